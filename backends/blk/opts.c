// SPDX-License-Identifier: GPL-2.0-only
/*
 * SETUP.args: a comma-separated list of options.
 *
 *   path=PATH            image file or block device (required; no commas)
 *   ro                   read-only (also implied by a non-writable image)
 *   poll=US              busy-poll the ring US microseconds before sleeping
 *   direct=auto|on|off   O_DIRECT: fall back to buffered / require / never
 *   serial=STR           GET_ID answer, at most 20 bytes (default: file name)
 *   format=raw           disk back-end (only raw so far)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/beopts.h>

#include "blkback.h"

static int blkb_opt_one(struct blkb_opts *o, char *opt, bool *have_path,
			char *err, size_t errlen)
{
	char *val = strchr(opt, '=');
	unsigned long v;

	if (val)
		*val++ = '\0';
	if (!strcmp(opt, "ro")) {
		if (val)
			return pvbe_opt_err(err, errlen,
					     "option 'ro' takes no value");
		o->ro = true;
		return 0;
	}
	if (!val)
		return pvbe_opt_err(err, errlen, "unknown option '%s'", opt);
	if (!strcmp(opt, "path")) {
		if (!*val)
			return pvbe_opt_err(err, errlen, "empty path");
		if (strlen(val) >= sizeof(o->path))
			return pvbe_opt_err(err, errlen, "path too long");
		strcpy(o->path, val);
		*have_path = true;
	} else if (!strcmp(opt, "poll")) {
		if (pvbe_opt_uint(val, BLKB_MAX_POLL_US, &v))
			return pvbe_opt_err(err, errlen,
					     "poll=%s: expected 0..%u (microseconds)",
					     val, BLKB_MAX_POLL_US);
		o->poll_us = v;
	} else if (!strcmp(opt, "direct")) {
		if (!strcmp(val, "auto"))
			o->direct = BLKB_DIRECT_AUTO;
		else if (!strcmp(val, "on"))
			o->direct = BLKB_DIRECT_ON;
		else if (!strcmp(val, "off"))
			o->direct = BLKB_DIRECT_OFF;
		else
			return pvbe_opt_err(err, errlen,
					     "direct=%s: expected auto, on or off",
					     val);
	} else if (!strcmp(opt, "inline")) {
		if (!strcmp(val, "auto"))
			o->no_inline = false;
		else if (!strcmp(val, "off"))
			o->no_inline = true;
		else
			return pvbe_opt_err(err, errlen,
					     "inline=%s: expected auto or off",
					     val);
	} else if (!strcmp(opt, "serial")) {
		if (strlen(val) > PVKIT_BLK_ID_BYTES)
			return pvbe_opt_err(err, errlen,
					     "serial longer than %d bytes",
					     PVKIT_BLK_ID_BYTES);
		strcpy(o->serial, val);
		o->has_serial = true;
	} else if (!strcmp(opt, "format")) {
		if (strlen(val) >= sizeof(o->format))
			return pvbe_opt_err(err, errlen, "unknown format '%s'",
					     val);
		strcpy(o->format, val);
	} else {
		return pvbe_opt_err(err, errlen, "unknown option '%s'", opt);
	}
	return 0;
}

int blkb_opts_parse(struct blkb_opts *o, const char *args, char *err,
		    size_t errlen)
{
	bool have_path = false;
	char *buf, *opt, *save = NULL;
	int ret = 0;

	memset(o, 0, sizeof(*o));
	strcpy(o->format, "raw");
	o->direct = BLKB_DIRECT_AUTO;

	buf = strdup(args);
	if (!buf)
		return pvbe_opt_err(err, errlen, "out of memory");
	for (opt = strtok_r(buf, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		ret = blkb_opt_one(o, opt, &have_path, err, errlen);
		if (ret)
			break;
	}
	free(buf);
	if (!ret && !have_path)
		ret = pvbe_opt_err(err, errlen,
				    "missing path= (args: path=PATH[,ro][,poll=US])");
	return ret;
}
