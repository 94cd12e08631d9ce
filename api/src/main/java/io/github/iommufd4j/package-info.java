/**
 * The typed iommufd API: what a VMM written in Java needs to give its guests' devices DMA
 * through the Linux iommufd ({@code /dev/iommu}), one class per kernel object.
 *
 * <h2>The objects</h2>
 * <ul>
 *   <li>{@link io.github.iommufd4j.Iommufd}: the open {@code /dev/iommu}, on the kernel's
 *       iommufd or on the in-process software backend ({@link io.github.iommufd4j.Backend}).
 *       Every other handle is made from it and closed with it.</li>
 *   <li>{@link io.github.iommufd4j.Ioas}: an IO address space; guest RAM is mapped into it at
 *       IOVAs (guest physical addresses).</li>
 *   <li>{@link io.github.iommufd4j.HwPagetable}: a page table of a device's IOMMU, paging (on
 *       an IOAS) or nested (the guest's stage 1); dirty tracking for live migration.</li>
 *   <li>{@link io.github.iommufd4j.VfioDevice}: a real device (VFIO cdev) bound to the
 *       iommufd and attached to an IOAS or page table.</li>
 *   <li>{@link io.github.iommufd4j.FaultQueue}: I/O page faults of devices, answered by the
 *       VMM, usually through the {@link io.github.iommufd4j.pump.FaultPump}.</li>
 *   <li>{@link io.github.iommufd4j.Viommu}, {@link io.github.iommufd4j.Vdevice},
 *       {@link io.github.iommufd4j.EventQueue}, {@link io.github.iommufd4j.HwQueue}: the
 *       virtual IOMMU a guest sees, its devices, its events and its hardware queues.</li>
 *   <li>{@link io.github.iommufd4j.MockDriver}: the kernel's test driver (mock devices,
 *       accesses, faults), to test all of the above without hardware.</li>
 *   <li>{@link io.github.iommufd4j.VfioCompat}: the legacy VFIO type1 container API on top of
 *       an iommufd.</li>
 * </ul>
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=map}
 *
 * <h2>Contracts shared by every handle</h2>
 * <ul>
 *   <li><b>Errors:</b> a call the kernel refuses throws
 *       {@link io.github.iommufd4j.IommufdException} carrying the errno, the command and the
 *       ids ({@code IOMMU_IOAS_MAP(ioas=3, iova=0x1000, length=0x2000): EEXIST (File exists)});
 *       a command the running kernel lacks throws
 *       {@link io.github.iommufd4j.UnsupportedCommandException}. Arguments that never reach
 *       the kernel (heap memory where the kernel needs native memory, negative counts) throw
 *       {@link java.lang.IllegalArgumentException}.</li>
 *   <li><b>Closing:</b> {@code close()} is idempotent and thread-safe and never spins. It
 *       closes the handles that depend on this one first, wakes threads blocked on it (they
 *       get EBADF "handle is closed"), waits for calls in flight and destroys the kernel
 *       object. Closing the {@link io.github.iommufd4j.Iommufd} closes everything made from
 *       it.</li>
 *   <li><b>File descriptors</b> of queues, accesses and devices are owned by their handles;
 *       {@code fd()} lends them (e.g. to poll) but the caller must not close them.</li>
 *   <li><b>Memory</b> handed to a mapping must be native; the handle keeps it reachable while
 *       it is mapped. Hot paths (map/unmap, fault read/respond) allocate nothing per call.</li>
 *   <li><b>Units:</b> IOVAs and lengths are unsigned 64-bit byte values; ids are the kernel's
 *       u32 object ids; timeouts are milliseconds (-1: forever).</li>
 * </ul>
 *
 * <p>The kernel's behaviour behind each errno is described in the repository's
 * {@code docs/kernel-behaviour.md}.
 */
package io.github.iommufd4j;
