/*
 * Shared by the C baselines: the iommufd objects the Java benchmarks set up through the typed
 * API, made here with the same ioctls and the same arguments, so the two sides do the same work.
 * Results go to stdout as one "key=value ..." line that the Java runner parses.
 */
#ifndef IOMMUFD4J_BENCH_H
#define IOMMUFD4J_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include "iommufd_test.h"

/* Exit code for "nothing to measure here" (no /dev/iommu, no mock driver): not a failure. */
#define EXIT_UNAVAILABLE 3

#define CHECK(call)                                                                 \
    do {                                                                            \
        if ((call) < 0) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, strerror(errno)); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static inline long arg_long(int argc, char **argv, const char *name, long dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return strtol(argv[i + 1], NULL, 0);
    return dflt;
}

static inline const char *arg_str(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}

static inline int iommufd_open(void)
{
    int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "/dev/iommu: %s\n", strerror(errno));
        exit(EXIT_UNAVAILABLE);
    }
    return fd;
}

static inline uint32_t ioas_alloc(int fd)
{
    struct iommu_ioas_alloc a = { .size = sizeof(a) };
    CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &a));
    return a.out_ioas_id;
}

struct mock_dev { uint32_t stdev, hwpt, idev; };

/* MOCK_DOMAIN_FLAGS with no flags on an IOAS or page table (what MockDriver.addDevice does). */
static inline struct mock_dev mock_domain(int fd, uint32_t pt_id)
{
    struct iommu_test_cmd c = { .size = sizeof(c), .op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, .id = pt_id };
    if (ioctl(fd, IOMMU_TEST_CMD, &c) < 0) {
        fprintf(stderr, "IOMMU_TEST_CMD(MOCK_DOMAIN_FLAGS): %s (kernel without CONFIG_IOMMUFD_TEST?)\n", strerror(errno));
        exit(errno == ENOTTY ? EXIT_UNAVAILABLE : 1);
    }
    return (struct mock_dev){ c.mock_domain_flags.out_stdev_id, c.mock_domain_flags.out_hwpt_id,
                              c.mock_domain_flags.out_idev_id };
}

static inline uint32_t hwpt_alloc(int fd, uint32_t dev, uint32_t pt, uint32_t flags, uint32_t fault_id,
                                  uint32_t data_type, void *data, uint32_t data_len)
{
    struct iommu_hwpt_alloc h = {
        .size = sizeof(h), .flags = flags | (fault_id ? IOMMU_HWPT_FAULT_ID_VALID : 0), .dev_id = dev,
        .pt_id = pt, .data_type = data_type, .data_len = data_len, .data_uptr = (uintptr_t)data,
        .fault_id = fault_id,
    };
    CHECK(ioctl(fd, IOMMU_HWPT_ALLOC, &h));
    return h.out_hwpt_id;
}

/*
 * A mock device whose faults go to a new fault queue (MockDriver.addFaultingDevice): added on
 * the IOAS, then moved to a nested IOPF-capable selftest page table over a NEST_PARENT one.
 * Returns the device id for TRIGGER_IOPF and the queue's fd.
 */
static inline uint32_t faulting_device(int fd, uint32_t ioas, int *fault_fd)
{
    struct iommu_fault_alloc f = { .size = sizeof(f) };
    CHECK(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &f));
    struct mock_dev d = mock_domain(fd, ioas);
    uint32_t parent = hwpt_alloc(fd, d.idev, ioas, IOMMU_HWPT_ALLOC_NEST_PARENT, 0, IOMMU_HWPT_DATA_NONE, NULL, 0);
    uint32_t iotlb = 0; /* the first field of struct iommu_hwpt_selftest, as the Java side passes it */
    uint32_t nested = hwpt_alloc(fd, d.idev, parent, 0, f.out_fault_id, IOMMU_HWPT_DATA_SELFTEST, &iotlb, sizeof(iotlb));
    struct iommu_test_cmd r = { .size = sizeof(r), .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, .id = d.stdev };
    r.mock_domain_replace.pt_id = nested;
    CHECK(ioctl(fd, IOMMU_TEST_CMD, &r));
    *fault_fd = f.out_fault_fd;
    return d.idev;
}

#endif
