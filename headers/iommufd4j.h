/*
 * Everything iommufd4j binds with jextract: the kernel UAPI (7.3) for iommufd, VFIO and
 * io_uring, the iommufd mock driver's ABI (CONFIG_IOMMUFD_TEST) and the libc calls we make.
 * Include paths (see bindings/regenerate.sh): headers/target/sysroot/{kernel,usr/include,
 * usr/include/x86_64-linux-gnu} before the system's, so linux/ and asm/ come from 7.3.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <linux/io_uring.h>
#include "iommufd_test.h"
