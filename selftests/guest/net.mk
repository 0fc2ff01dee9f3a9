# SPDX-License-Identifier: GPL-2.0-only
#
# pvkit network front-end: static guest tools (build.mk's GUEST_TOOLS):
#   pvkit-netxfer  the guest end of the transfers in selftests/vm/net-*.sh
#   pvkit-rr       1-byte TCP request/response latency for make bench-net
#                  (static, so the bench runs the same file on the host
#                  as the server)

GUEST_TOOLS += pvkit-netxfer pvkit-rr
