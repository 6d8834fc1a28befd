#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the C source of volmount._volmount, the cffi extension of the Python binding.

API mode: the declarations below are compiled against include/volmount.h, so a declaration
that disagrees with the header (a changed signature, a removed function, an enum constant
that is gone) fails the build instead of misbehaving at run time: every function is declared
again after the header (signature_checks), which C refuses for an incompatible type, and
meson.build turns the other diagnostics of a mismatch (DRIFT_ERRORS) into errors. Enum values are taken from the header
("..."), never repeated here.

    build_cffi.py OUTPUT.c
"""
import re
import sys

import cffi

CDEF = """
void free(void *);

unsigned volmount_version_number(void);

struct volmount_ctx;
struct volmount_snapshot;
struct volmount_report;

enum volmount_path { VOLMOUNT_PATH_STATE_DIR, VOLMOUNT_PATH_BASE_DIR, VOLMOUNT_PATH_RUN_DIR,
                     ... };
enum volmount_errkind { VOLMOUNT_ERR_NONE, VOLMOUNT_ERR_INPUT, VOLMOUNT_ERR_HOSTDOWN,
                        VOLMOUNT_ERR_INTERNAL, VOLMOUNT_ERR_MOUNTPOINT, VOLMOUNT_ERR_IO,
                        VOLMOUNT_ERR_TEMPFAIL, VOLMOUNT_ERR_PERM, VOLMOUNT_ERR_CONFIG, ... };
enum volmount_path_scheme { VOLMOUNT_PATH_SCHEME_VOLMOUNT, VOLMOUNT_PATH_SCHEME_NOVA, ... };
enum volmount_durability { VOLMOUNT_DURABILITY_NORMAL, VOLMOUNT_DURABILITY_FULL, ... };

#define VOLMOUNT_SNAPSHOT_PROBE ...

int volmount_ctx_new(struct volmount_ctx **ret);
void volmount_ctx_free(struct volmount_ctx *ctx);
int volmount_ctx_set_path(struct volmount_ctx *ctx, enum volmount_path which, const char *path);
const char *volmount_ctx_get_path(const struct volmount_ctx *ctx, enum volmount_path which);
int volmount_ctx_set_timeout(struct volmount_ctx *ctx, unsigned timeout_ms);
int volmount_ctx_set_durability(struct volmount_ctx *ctx, enum volmount_durability d);
int volmount_ctx_set_path_scheme(struct volmount_ctx *ctx, enum volmount_path_scheme scheme);
int volmount_ctx_set_probe_timeout(struct volmount_ctx *ctx, unsigned timeout_ms);
int volmount_ctx_load_config(struct volmount_ctx *ctx, const char *path, bool must_exist);
const char *volmount_ctx_errmsg(const struct volmount_ctx *ctx);
enum volmount_errkind volmount_ctx_errkind(const struct volmount_ctx *ctx);

int volmount_attach(struct volmount_ctx *ctx, const char *driver, const char *export,
                    const char *volume, const char *owner, const char *const *options,
                    size_t n_options, char **ret_device_path);
int volmount_detach(struct volmount_ctx *ctx, const char *driver, const char *export,
                    const char *volume, const char *owner);
int volmount_share_path(struct volmount_ctx *ctx, const char *driver, const char *export,
                        char **ret_path);
int volmount_host_up(struct volmount_ctx *ctx, struct volmount_report **ret_report);
int volmount_host_down(struct volmount_ctx *ctx);
int volmount_repair(struct volmount_ctx *ctx, struct volmount_report **ret_report);
int volmount_gc(struct volmount_ctx *ctx, struct volmount_report **ret_report);

int volmount_snapshot_new_ex(struct volmount_ctx *ctx, uint64_t flags,
                             struct volmount_snapshot **ret);
int volmount_snapshot_share_errno(const struct volmount_snapshot *s, size_t i);
int64_t volmount_snapshot_share_probe_us(const struct volmount_snapshot *s, size_t i);
void volmount_snapshot_free(struct volmount_snapshot *s);
const char *volmount_snapshot_host_state(const struct volmount_snapshot *s);
uint64_t volmount_snapshot_generation(const struct volmount_snapshot *s);
size_t volmount_snapshot_n_shares(const struct volmount_snapshot *s);
const char *volmount_snapshot_share_driver(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_export(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_mountpoint(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_options(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_share_state(const struct volmount_snapshot *s, size_t i);
uint64_t volmount_snapshot_share_mount_id(const struct volmount_snapshot *s, size_t i);
size_t volmount_snapshot_share_n_attachments(const struct volmount_snapshot *s, size_t i);
bool volmount_snapshot_share_adopted(const struct volmount_snapshot *s, size_t i);
const char *volmount_snapshot_attachment_volume(const struct volmount_snapshot *s, size_t i,
                                                size_t j);
const char *volmount_snapshot_attachment_owner(const struct volmount_snapshot *s, size_t i,
                                               size_t j);

size_t volmount_report_n_entries(const struct volmount_report *r);
const char *volmount_report_entry_path(const struct volmount_report *r, size_t i);
const char *volmount_report_entry_action(const struct volmount_report *r, size_t i);
const char *volmount_report_entry_detail(const struct volmount_report *r, size_t i);
uint64_t volmount_report_generation(const struct volmount_report *r);
void volmount_report_free(struct volmount_report *r);
"""


PREAMBLE = "#include <stdlib.h>\n#include <volmount.h>\n"


def signature_checks(cdef=CDEF):
    """The function declarations of cdef, repeated in the C source after volmount.h. C allows
    a function to be declared again only with a compatible type, so a declaration that drifts
    from the header (another return or parameter type, unsigned for int, a lost const, an
    added parameter) is a "conflicting types" error of the compiler, not a warning. Each
    function's address is taken first, before those declarations, so a function the header
    does not declare is an undeclared identifier, also an error.
    Uses no cffi internals: only the text of cdef, one declaration per ';'."""
    have, decls = [], []
    text = "\n".join(ln for ln in cdef.splitlines() if not ln.lstrip().startswith("#"))
    for stmt in text.split(";"):
        stmt = " ".join(stmt.split())
        if "(" in stmt and "{" not in stmt and not stmt.startswith("typedef "):
            name = re.search(r"(\w+)\s*\(", stmt).group(1)
            # Before the declarations below: a name the header lacks is undeclared here.
            have.append(f"static void (*const volmount_py_have_{name})(void) "
                        f"__attribute__((unused)) = (void (*)(void))&{name};")
            decls.append(stmt + ";")
    return "\n".join(have + decls) + "\n"


def make_ffi(cdef=CDEF):
    """The cffi builder of volmount._volmount for the declarations cdef."""
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source("volmount._volmount", PREAMBLE + signature_checks(cdef))
    return ffi


# The warnings that a declaration drifting from the header produces, made errors (the
# extension is otherwise built without -Werror: cffi's own code is not ours to keep clean).
DRIFT_ERRORS = ["-Werror=incompatible-pointer-types", "-Werror=int-conversion",
                "-Werror=implicit-function-declaration", "-Werror=discarded-qualifiers"]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: build_cffi.py OUTPUT.c\n")
        return 64
    make_ffi().emit_c_code(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
