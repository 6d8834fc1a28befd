/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-names.c - share states and report actions as enums: the numbers are part of the ABI and
 * never change, every word maps to one number and back, unknown words and missing entries
 * have their own values, and "healthy" is exactly mounted or unmounted.
 */
#include "test.h"
#include "volmount.h"

static const struct {
	enum volmount_share_state id;
	int value;
	const char *name;
	bool healthy;
} states[] = {
	{ VOLMOUNT_SHARE_MOUNTED, 0, "mounted", true },
	{ VOLMOUNT_SHARE_UNMOUNTED, 1, "unmounted", true },
	{ VOLMOUNT_SHARE_UNUSED, 2, "unused", false },
	{ VOLMOUNT_SHARE_STALE, 3, "stale", false },
	{ VOLMOUNT_SHARE_HUNG, 4, "hung", false },
	{ VOLMOUNT_SHARE_UNPROBED, 5, "unprobed", false },
	{ VOLMOUNT_SHARE_FOREIGN, 6, "foreign", false },
	{ VOLMOUNT_SHARE_MISSING, 7, "missing", false },
	{ VOLMOUNT_SHARE_STACKED, 8, "stacked", false },
	{ VOLMOUNT_SHARE_UNKNOWN, 9, "unknown", false },
};

static const struct {
	enum volmount_report_action id;
	int value;
	const char *name;
} actions[] = {
	{ VOLMOUNT_ACTION_KEPT, 0, "kept" },	       { VOLMOUNT_ACTION_MOUNTED, 1, "mounted" },
	{ VOLMOUNT_ACTION_UNMOUNTED, 2, "unmounted" }, { VOLMOUNT_ACTION_REPAIRED, 3, "repaired" },
	{ VOLMOUNT_ACTION_ADOPTED, 4, "adopted" },     { VOLMOUNT_ACTION_REMOVED, 5, "removed" },
	{ VOLMOUNT_ACTION_FOREIGN, 6, "foreign" },     { VOLMOUNT_ACTION_STACKED, 7, "stacked" },
	{ VOLMOUNT_ACTION_UNPROBED, 8, "unprobed" },   { VOLMOUNT_ACTION_UNKNOWN, 9, "unknown" },
	{ VOLMOUNT_ACTION_FAILED, 10, "failed" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_state_values_stable(void)
{
	for (size_t i = 0; i < N(states); i++)
		ASSERT_EQ(states[i].id, states[i].value);
	ASSERT_EQ(VOLMOUNT_SHARE_INVALID, -1);
	ASSERT_EQ(VOLMOUNT_SHARE_OTHER, 10);
	/* every value below OTHER is in the table above: nothing added without a row here */
	ASSERT_EQ(N(states), VOLMOUNT_SHARE_OTHER);
	ASSERT_EQ(_VOLMOUNT_SHARE_STATE_MAX, VOLMOUNT_SHARE_OTHER + 1);
}

static void test_state_names_round_trip(void)
{
	for (size_t i = 0; i < N(states); i++) {
		ASSERT_STREQ(volmount_share_state_name(states[i].id), states[i].name);
		ASSERT_EQ(volmount_share_state_from_name(states[i].name), states[i].id);
	}
	ASSERT_TRUE(volmount_share_state_name(VOLMOUNT_SHARE_OTHER) == NULL);
	ASSERT_TRUE(volmount_share_state_name(VOLMOUNT_SHARE_INVALID) == NULL);
	ASSERT_TRUE(volmount_share_state_name(_VOLMOUNT_SHARE_STATE_MAX) == NULL);
	ASSERT_EQ(volmount_share_state_from_name("degraded"), VOLMOUNT_SHARE_OTHER);
	ASSERT_EQ(volmount_share_state_from_name(""), VOLMOUNT_SHARE_OTHER);
	ASSERT_EQ(volmount_share_state_from_name("Mounted"), VOLMOUNT_SHARE_OTHER);
	ASSERT_EQ(volmount_share_state_from_name(NULL), VOLMOUNT_SHARE_INVALID);
}

static void test_state_healthy(void)
{
	for (size_t i = 0; i < N(states); i++)
		ASSERT_EQ(volmount_share_state_healthy(states[i].id), states[i].healthy);
	/* what a caller does not know is never healthy */
	ASSERT_TRUE(!volmount_share_state_healthy(VOLMOUNT_SHARE_OTHER));
	ASSERT_TRUE(!volmount_share_state_healthy(VOLMOUNT_SHARE_INVALID));
	ASSERT_TRUE(!volmount_share_state_healthy(_VOLMOUNT_SHARE_STATE_MAX));
}

static void test_state_accessor_without_share(void)
{
	ASSERT_EQ(volmount_snapshot_share_state_id(NULL, 0), VOLMOUNT_SHARE_INVALID);
}

static void test_action_values_stable(void)
{
	for (size_t i = 0; i < N(actions); i++)
		ASSERT_EQ(actions[i].id, actions[i].value);
	ASSERT_EQ(VOLMOUNT_ACTION_INVALID, -1);
	ASSERT_EQ(VOLMOUNT_ACTION_OTHER, 11);
	ASSERT_EQ(N(actions), VOLMOUNT_ACTION_OTHER);
	ASSERT_EQ(_VOLMOUNT_REPORT_ACTION_MAX, VOLMOUNT_ACTION_OTHER + 1);
}

static void test_action_names_round_trip(void)
{
	for (size_t i = 0; i < N(actions); i++) {
		ASSERT_STREQ(volmount_report_action_name(actions[i].id), actions[i].name);
		ASSERT_EQ(volmount_report_action_from_name(actions[i].name), actions[i].id);
	}
	ASSERT_TRUE(volmount_report_action_name(VOLMOUNT_ACTION_OTHER) == NULL);
	ASSERT_TRUE(volmount_report_action_name(VOLMOUNT_ACTION_INVALID) == NULL);
	ASSERT_TRUE(volmount_report_action_name(_VOLMOUNT_REPORT_ACTION_MAX) == NULL);
	ASSERT_EQ(volmount_report_action_from_name("busy"), VOLMOUNT_ACTION_OTHER);
	ASSERT_EQ(volmount_report_action_from_name(NULL), VOLMOUNT_ACTION_INVALID);
}

static void test_action_accessor_without_entry(void)
{
	ASSERT_EQ(volmount_report_entry_action_id(NULL, 0), VOLMOUNT_ACTION_INVALID);
}

static const struct test tests[] = {
	{ "state values are stable", test_state_values_stable },
	{ "state names round trip", test_state_names_round_trip },
	{ "healthy is mounted or unmounted only", test_state_healthy },
	{ "state of no share is INVALID", test_state_accessor_without_share },
	{ "action values are stable", test_action_values_stable },
	{ "action names round trip", test_action_names_round_trip },
	{ "action of no entry is INVALID", test_action_accessor_without_entry },
};

TEST_MAIN(tests)
