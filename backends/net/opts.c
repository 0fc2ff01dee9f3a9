// SPDX-License-Identifier: GPL-2.0-only
/*
 * SETUP.args: a comma-separated list of options.
 *
 *   tap=NAME          the TAP device (created if it does not exist), or
 *   xdp=IFNAME        an AF_XDP socket on a host interface (exactly one)
 *   queue=Q           xdp: the interface's rx queue (default 0)
 *   attach=MODE       xdp: the XDP program in native or generic mode only
 *                     (default: native, else generic)
 *   poll=US           busy-poll the rings US microseconds before sleeping
 *   mac=XX:..:XX      the guest's MAC (default: derived from the port's
 *                     interface name and the instance)
 *   mtu=N             set the interface's MTU and suggest it to the guest
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/beopts.h>

#include "netback.h"

static int netb_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6], i;
	char end;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* the config MAC must be unicast and not all-zero (net.h) */
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] |
			      mac[5]))
		return -EINVAL;
	return 0;
}

static int netb_opt_one(struct netb_opts *o, char *opt, char *err,
			size_t errlen)
{
	char *val = strchr(opt, '=');
	unsigned long v;

	if (!val)
		return pvbe_opt_err(err, errlen, "unknown option '%s'", opt);
	*val++ = '\0';
	if (!strcmp(opt, "tap") || !strcmp(opt, "xdp")) {
		if (o->ifname[0])
			return pvbe_opt_err(err, errlen,
					    "%s=%s: one of tap= and xdp=, once",
					    opt, val);
		if (!*val || strlen(val) >= sizeof(o->ifname) ||
		    strchr(val, '/'))
			return pvbe_opt_err(err, errlen,
					    "%s=%s: expected an interface name of 1..%zu bytes",
					    opt, val, sizeof(o->ifname) - 1);
		strcpy(o->ifname, val);
		o->port = opt[0] == 'x' ? NETB_PORT_XDP : NETB_PORT_TAP;
	} else if (!strcmp(opt, "queue")) {
		if (pvbe_opt_uint(val, NETB_XSK_MAX_QUEUE, &v))
			return pvbe_opt_err(err, errlen,
					    "queue=%s: expected 0..%u",
					    val, NETB_XSK_MAX_QUEUE);
		o->queue = v;
		o->has_queue = true;
	} else if (!strcmp(opt, "attach")) {
		if (!strcmp(val, "native"))
			o->attach = NETB_XDP_NATIVE;
		else if (!strcmp(val, "generic"))
			o->attach = NETB_XDP_GENERIC;
		else
			return pvbe_opt_err(err, errlen,
					    "attach=%s: expected native or generic",
					    val);
	} else if (!strcmp(opt, "poll")) {
		if (pvbe_opt_uint(val, NETB_MAX_POLL_US, &v))
			return pvbe_opt_err(err, errlen,
					    "poll=%s: expected 0..%u (microseconds)",
					    val, NETB_MAX_POLL_US);
		o->poll_us = v;
	} else if (!strcmp(opt, "mtu")) {
		if (pvbe_opt_uint(val, PVKIT_NET_MAX_MTU, &v) ||
		    v < PVKIT_NET_MIN_MTU)
			return pvbe_opt_err(err, errlen, "mtu=%s: expected %u..%u",
					    val, PVKIT_NET_MIN_MTU,
					    PVKIT_NET_MAX_MTU);
		o->mtu = v;
	} else if (!strcmp(opt, "mac")) {
		if (netb_parse_mac(val, o->mac))
			return pvbe_opt_err(err, errlen,
					    "mac=%s: expected a unicast XX:XX:XX:XX:XX:XX",
					    val);
		o->has_mac = true;
	} else {
		return pvbe_opt_err(err, errlen, "unknown option '%s'", opt);
	}
	return 0;
}

int netb_opts_parse(struct netb_opts *o, const char *args, char *err,
		    size_t errlen)
{
	char *buf, *opt, *save = NULL;
	int ret = 0;

	memset(o, 0, sizeof(*o));
	buf = strdup(args);
	if (!buf)
		return pvbe_opt_err(err, errlen, "out of memory");
	for (opt = strtok_r(buf, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		ret = netb_opt_one(o, opt, err, errlen);
		if (ret)
			break;
	}
	free(buf);
	if (!ret && !o->ifname[0])
		ret = pvbe_opt_err(err, errlen,
				   "missing tap= or xdp= (args: tap=NAME|xdp=IFNAME[,queue=Q][,attach=native|generic][,poll=US][,mac=MAC][,mtu=N])");
	if (!ret && (o->has_queue || o->attach) && o->port != NETB_PORT_XDP)
		ret = pvbe_opt_err(err, errlen,
				   "queue= and attach= are xdp= options");
	return ret;
}
