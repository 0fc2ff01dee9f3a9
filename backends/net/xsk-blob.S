/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The compiled XDP program (xsk.bpf.c), embedded in pvkit-netback:
 * port-xdp.c loads it from netb_xsk_bpf[] with bpf_object__open_mem().
 * XSK_BPF_OBJ is the object's path (backends/build.mk).
 */
	.section .rodata
	.balign 8
	.globl netb_xsk_bpf
	.globl netb_xsk_bpf_end
netb_xsk_bpf:
	.incbin XSK_BPF_OBJ
netb_xsk_bpf_end:
	.byte 0

	.section .note.GNU-stack, "", @progbits
