/*
 * C baseline of the Java map/unmap benchmark: IOAS_MAP (kernel-chosen IOVA, read/write) and
 * IOAS_UNMAP of one buffer in a loop on an IOAS with a mock domain attached.
 *   map_unmap --size BYTES --pairs N --warmup N
 * prints: map_unmap size=BYTES pairs=N ns_per_pair=X
 */
#include <sys/mman.h>
#include "bench.h"

static void loop(int fd, uint32_t ioas, void *buf, uint64_t size, long n)
{
    struct iommu_ioas_map m = { .size = sizeof(m), .ioas_id = ioas };
    struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas };
    for (long i = 0; i < n; i++) {
        /* Every field set per call, as the Java side fills its struct per call. */
        m.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
        m.user_va = (uintptr_t)buf;
        m.length = size;
        m.iova = 0;
        CHECK(ioctl(fd, IOMMU_IOAS_MAP, &m));
        u.iova = m.iova;
        u.length = size;
        CHECK(ioctl(fd, IOMMU_IOAS_UNMAP, &u));
    }
}

int main(int argc, char **argv)
{
    uint64_t size = arg_long(argc, argv, "--size", 4096);
    long pairs = arg_long(argc, argv, "--pairs", 100000);
    long warmup = arg_long(argc, argv, "--warmup", pairs / 5);
    int fd = iommufd_open();
    uint32_t ioas = ioas_alloc(fd);
    mock_domain(fd, ioas);
    /* As MapUnmap.java: anonymous memory aligned to 2 MiB, MADV_HUGEPAGE, populated with zeros. */
    const uint64_t huge = 2u << 20;
    char *region = mmap(NULL, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 1;
    void *buf = (void *)(((uintptr_t)region + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(buf, size, MADV_HUGEPAGE);
    memset(buf, 0, size);
    loop(fd, ioas, buf, size, warmup);
    uint64_t t = now_ns();
    loop(fd, ioas, buf, size, pairs);
    t = now_ns() - t;
    printf("map_unmap size=%llu pairs=%ld ns_per_pair=%.1f\n", (unsigned long long)size, pairs, (double)t / pairs);
    return 0;
}
