/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Hypercalls (ABI.md 4): the mailbox transport and the call table.  The
 * device layer never calls in here: a deferred call is finished through
 * hv->hc_done, which hc_watch() points at hc_complete().
 */
#ifndef PVKIT_HV_HC_H
#define PVKIT_HV_HC_H

#include "hv.h"

int64_t hc_handle(struct hv *hv, unsigned int mbox, const struct hc_call *c);
/* Scan all mailboxes and run new calls.  Returns calls handled. */
unsigned int hc_scan(struct hv *hv);
/* Finish a deferred call on @mbox with @ret. */
void hc_complete(struct hv *hv, unsigned int mbox, int64_t ret);
/* Watch the hypercall doorbell in the event loop. */
int hc_watch(struct hv *hv);

#endif /* PVKIT_HV_HC_H */
