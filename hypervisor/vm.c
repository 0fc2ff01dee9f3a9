// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VM without QEMU: the core, hypercalls and the devices of the command
 * line, assembled in the one order that keeps the layers acyclic (core
 * knows no devices, devices know no hypercalls).  pvkit-hv's main and
 * the host tests both start here.
 */
#include "include/hc.h"
#include "include/hv.h"
#include "include/kind.h"

int hv_vm_init(struct hv *hv, const struct hv_opts *opt)
{
	struct hv_plan plan;
	int ret;

	kind_plan(opt, &plan);
	ret = hv_core_init(hv, opt, &plan);
	if (!ret)
		ret = hc_watch(hv);
	if (!ret)
		ret = kind_create_all(hv);
	return ret;
}
