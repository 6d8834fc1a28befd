/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.c - the share states and report actions as enums (volmount.h, since 0.4): the one table
 * from each word the engine produces to its number, and what "healthy" means. The engine
 * keeps producing the words (snapshot.c for states, host.c and health.c for actions); the
 * accessors here map them, so a word added there without a row here shows up as *_OTHER,
 * which the unit test test-names catches for every word in use.
 */
#include <string.h>

#include "visibility.h"
#include "volmount.h"

static const char *const state_names[_VOLMOUNT_SHARE_STATE_MAX] = {
	[VOLMOUNT_SHARE_MOUNTED] = "mounted", [VOLMOUNT_SHARE_UNMOUNTED] = "unmounted",
	[VOLMOUNT_SHARE_UNUSED] = "unused",   [VOLMOUNT_SHARE_STALE] = "stale",
	[VOLMOUNT_SHARE_HUNG] = "hung",	      [VOLMOUNT_SHARE_UNPROBED] = "unprobed",
	[VOLMOUNT_SHARE_FOREIGN] = "foreign", [VOLMOUNT_SHARE_MISSING] = "missing",
	[VOLMOUNT_SHARE_STACKED] = "stacked", [VOLMOUNT_SHARE_UNKNOWN] = "unknown",
	[VOLMOUNT_SHARE_OTHER] = NULL,
};

static const char *const action_names[_VOLMOUNT_REPORT_ACTION_MAX] = {
	[VOLMOUNT_ACTION_KEPT] = "kept",	   [VOLMOUNT_ACTION_MOUNTED] = "mounted",
	[VOLMOUNT_ACTION_UNMOUNTED] = "unmounted", [VOLMOUNT_ACTION_REPAIRED] = "repaired",
	[VOLMOUNT_ACTION_ADOPTED] = "adopted",	   [VOLMOUNT_ACTION_REMOVED] = "removed",
	[VOLMOUNT_ACTION_FOREIGN] = "foreign",	   [VOLMOUNT_ACTION_STACKED] = "stacked",
	[VOLMOUNT_ACTION_UNPROBED] = "unprobed",   [VOLMOUNT_ACTION_UNKNOWN] = "unknown",
	[VOLMOUNT_ACTION_FAILED] = "failed",	   [VOLMOUNT_ACTION_OTHER] = NULL,
};

/* Index of @name in @table (@n rows, NULL rows skipped), or -1. */
static int lookup(const char *const *table, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (table[i] && strcmp(table[i], name) == 0)
			return i;
	return -1;
}

VOLMOUNT_EXPORT const char *volmount_share_state_name(enum volmount_share_state state)
{
	if ((int)state < 0 || state >= _VOLMOUNT_SHARE_STATE_MAX)
		return NULL;
	return state_names[state];
}

VOLMOUNT_EXPORT enum volmount_share_state volmount_share_state_from_name(const char *name)
{
	int i;

	if (!name)
		return VOLMOUNT_SHARE_INVALID;
	i = lookup(state_names, _VOLMOUNT_SHARE_STATE_MAX, name);
	return i < 0 ? VOLMOUNT_SHARE_OTHER : (enum volmount_share_state)i;
}

VOLMOUNT_EXPORT enum volmount_share_state
volmount_snapshot_share_state_id(const struct volmount_snapshot *s, size_t i)
{
	return volmount_share_state_from_name(volmount_snapshot_share_state(s, i));
}

VOLMOUNT_EXPORT bool volmount_share_state_healthy(enum volmount_share_state state)
{
	/* A switch without default: a state added to the enum must be placed here (-Wswitch). */
	switch (state) {
	case VOLMOUNT_SHARE_MOUNTED:
	case VOLMOUNT_SHARE_UNMOUNTED:
		return true;
	case VOLMOUNT_SHARE_INVALID:
	case VOLMOUNT_SHARE_UNUSED:
	case VOLMOUNT_SHARE_STALE:
	case VOLMOUNT_SHARE_HUNG:
	case VOLMOUNT_SHARE_UNPROBED:
	case VOLMOUNT_SHARE_FOREIGN:
	case VOLMOUNT_SHARE_MISSING:
	case VOLMOUNT_SHARE_STACKED:
	case VOLMOUNT_SHARE_UNKNOWN:
	case VOLMOUNT_SHARE_OTHER:
	case _VOLMOUNT_SHARE_STATE_MAX:
		break;
	}
	return false;
}

VOLMOUNT_EXPORT const char *volmount_report_action_name(enum volmount_report_action action)
{
	if ((int)action < 0 || action >= _VOLMOUNT_REPORT_ACTION_MAX)
		return NULL;
	return action_names[action];
}

VOLMOUNT_EXPORT enum volmount_report_action volmount_report_action_from_name(const char *name)
{
	int i;

	if (!name)
		return VOLMOUNT_ACTION_INVALID;
	i = lookup(action_names, _VOLMOUNT_REPORT_ACTION_MAX, name);
	return i < 0 ? VOLMOUNT_ACTION_OTHER : (enum volmount_report_action)i;
}

VOLMOUNT_EXPORT enum volmount_report_action
volmount_report_entry_action_id(const struct volmount_report *r, size_t i)
{
	return volmount_report_action_from_name(volmount_report_entry_action(r, i));
}
