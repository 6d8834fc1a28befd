/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver.c - the driver table and what drivers share: option list handling. Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

const struct driver *const driver_table[] = {
	&driver_bind,
	&driver_sshfs,
	&driver_glusterfs,
	&driver_nfs,
	&driver_cifs,
	&driver_quobyte,
	&driver_cephfs,
	NULL,
};

const struct driver *driver_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; driver_table[i]; i++)
		if (strcmp(driver_table[i]->name, name) == 0)
			return driver_table[i];
	return NULL;
}

void driver_opts_done(struct driver_opts *o)
{
	if (!o)
		return;
	free(o->canonical);
	free(o->cred_path);
	free(o->trusted_path);
	o->canonical = NULL;
	o->cred_path = NULL;
	o->trusted_path = NULL;
	o->trusted_option = NULL;
	o->flags = 0;
	o->fuse_flags = 0;
}

void driver_mount_spec_done(struct driver_mount_spec *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->argv && m->argv[i]; i++)
		free(m->argv[i]);
	free(m->argv);
	free(m->fstype);
	free(m->source);
	m->argv = NULL;
	m->fstype = m->source = NULL;
}
