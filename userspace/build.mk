# SPDX-License-Identifier: GPL-2.0-only
# pvkit: the command line tool, one file per verb.
HOST_PROGS += pvkit
pvkit_SRCS := userspace/main.c userspace/run.c userspace/list.c \
	      userspace/stat.c userspace/stop.c userspace/dev.c \
	      userspace/balloon.c userspace/clock.c userspace/pause.c
