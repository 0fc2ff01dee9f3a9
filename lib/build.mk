# SPDX-License-Identifier: GPL-2.0-only
# Host library shared by pvkit-hv, the back-ends, the CLI and host tests.
HOST_LIB_SRCS += lib/gmem.c lib/fdpass.c
# the back-end framework: control framing, main loop, queue helpers
HOST_LIB_SRCS += lib/beproto.c lib/bemain.c lib/bequeue.c \
		 lib/beopts.c
HOST_LIB_SRCS += lib/log.c lib/json.c lib/rundir.c lib/ctlclient.c lib/size.c
