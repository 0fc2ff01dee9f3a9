# SPDX-License-Identifier: GPL-2.0-only
# Host library shared by pvkit-hv, the back-ends, the CLI and host tests.
HOST_LIB_SRCS += lib/gmem.c lib/fdpass.c
HOST_LIB_SRCS += lib/log.c lib/json.c lib/rundir.c lib/ctlclient.c
