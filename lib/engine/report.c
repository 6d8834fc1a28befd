/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * report.c - the report of a host-wide call (host-up, repair, gc): one entry per share, and the
 * first failure that decides the call's result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"
#include "internal.h"
#include "cleanup.h"
#include "errno-util.h"
#include "array-util.h"

struct report_entry {
	char *path;
	char *action;
	char *detail;
};

struct volmount_report {
	struct report_entry *e;
	size_t n, cap;
	uint64_t generation;
};

void report_set_generation(struct volmount_report *rep, uint64_t generation)
{
	rep->generation = generation;
}

int report_finish(struct volmount_report *rep, int r, struct volmount_report **ret_report)
{
	if (r < 0 || !ret_report) {
		volmount_report_free(rep);
		return r < 0 ? r : 0;
	}
	*ret_report = rep;
	return 0;
}

int report_new(struct volmount_report **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

int report_begin(struct volmount_ctx *ctx, struct volmount_report **ret)
{
	int r;

	if (!ctx)
		return -EINVAL;
	error_clear();
	r = ctx_open(ctx);
	if (r < 0 || !ret)
		return r;
	return report_new(ret);
}

int report_add(struct volmount_report *rep, const char *path, const char *action,
		      const char *fmt, ...)
{
	struct report_entry e = {};
	va_list ap;
	int k;

	if (!rep)
		return 0;
	if (ARRAY_GROW(rep->e, rep->cap, rep->n, 16) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	k = vasprintf(&e.detail, fmt, ap);
	va_end(ap);
	e.path = strdup(path);
	e.action = strdup(action);
	if (k < 0 || !e.path || !e.action) {
		if (k >= 0)
			free(e.detail);
		free(e.path);
		free(e.action);
		return -ENOMEM;
	}
	rep->e[rep->n++] = e;
	return 0;
}

int report_append(struct volmount_report *dst, struct volmount_report *src)
{
	if (!src)
		return 0;
	if (dst && src->n > 0 && dst->cap - dst->n < src->n) {
		size_t ncap = dst->n + src->n;
		struct report_entry *ne = reallocarray(dst->e, ncap, sizeof(*ne));

		if (!ne) {
			volmount_report_free(src);
			return -ENOMEM;
		}
		dst->e = ne;
		dst->cap = ncap;
	}
	if (dst && src->n > 0) {
		memcpy(dst->e + dst->n, src->e, src->n * sizeof(*src->e));
		dst->n += src->n;
		src->n = 0;
	}
	volmount_report_free(src);
	return 0;
}

int report_failed(struct volmount_ctx *ctx, struct volmount_report *rep, const char *path,
		  int r, struct first_failure *first)
{
	const char *msg = volmount_ctx_errmsg(ctx);
	enum volmount_errkind kind = volmount_ctx_errkind(ctx);
	int k;

	k = report_add(rep, path, "failed", "%s", msg && msg[0] ? msg : errno_str(r));
	if (first && first->r == 0) {
		first->r = r;
		first->kind = kind == VOLMOUNT_ERR_NONE ? VOLMOUNT_ERR_INTERNAL : kind;
	}
	error_clear();
	return k;
}

int first_failure_result(struct volmount_ctx *ctx, const struct first_failure *first,
			 const char *summary)
{
	if (first->r == 0)
		return 0;
	return error_set(first->r, first->kind, "%s", summary);
}

VOLMOUNT_EXPORT size_t volmount_report_n_entries(const struct volmount_report *r)
{
	return r ? r->n : 0;
}

VOLMOUNT_EXPORT const char *volmount_report_entry_path(const struct volmount_report *r, size_t i)
{
	return r && i < r->n ? r->e[i].path : NULL;
}

VOLMOUNT_EXPORT const char *volmount_report_entry_action(const struct volmount_report *r,
							 size_t i)
{
	return r && i < r->n ? r->e[i].action : NULL;
}

VOLMOUNT_EXPORT const char *volmount_report_entry_detail(const struct volmount_report *r,
							 size_t i)
{
	return r && i < r->n ? r->e[i].detail : NULL;
}

VOLMOUNT_EXPORT uint64_t volmount_report_generation(const struct volmount_report *r)
{
	return r ? r->generation : 0;
}

VOLMOUNT_EXPORT void volmount_report_free(struct volmount_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].path);
		free(r->e[i].action);
		free(r->e[i].detail);
	}
	free(r->e);
	free(r);
}
