package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * A VFIO cdev device ({@code /dev/vfio/devices/vfioN}, Linux 6.6+) bound to an iommufd
 * (VFIO_DEVICE_BIND_IOMMUFD): a real PCI device passed through to a guest, whose DMA goes
 * through the page table it is attached to. Native backend only; the device must be bound to
 * {@code vfio-pci} first.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=vfio}
 *
 * <p>This handle owns the cdev's file descriptor and the BAR mappings of {@link #mmap}: closing
 * it unmaps them and closes the cdev, which detaches the device and unbinds it from the
 * iommufd. Closed with the iommufd.
 */
public final class VfioDevice extends Handle {
    private final int fd;
    private final int deviceId;
    private final Path path;
    private final Arena arena = Arena.ofShared(); // BAR mappings live until close

    private VfioDevice(Iommufd iommufd, Path path, int fd, int deviceId) {
        super(iommufd);
        this.path = path;
        this.fd = fd;
        this.deviceId = deviceId;
    }

    /**
     * Opens a VFIO cdev and binds it to {@code iommufd}. The device is not attached yet: attach it
     * to an IOAS or page table ({@link #attach(int)}) before it does DMA.
     *
     * @param iommufd a native iommufd
     * @param cdev    the device's cdev, e.g. from {@link #cdevOf(String)}
     * @return the bound device, owned by {@code iommufd}
     * @throws IommufdException ENODEV on the software backend; the errno of open(2) (ENOENT, EACCES,
     *         EBUSY when another process has it) or of the bind (e.g. EPERM when the device is not
     *         isolated by an IOMMU)
     */
    public static VfioDevice open(Iommufd iommufd, Path cdev) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, "VFIO_DEVICE_BIND_IOMMUFD")) {
            requireNative(k, iommufd, cdev.toString());
            int fd = Libc.open(cdev.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw new IommufdException("open", cdev.toString(), -fd);
            try {
                return bind(k, iommufd, cdev, fd);
            } catch (IommufdException e) {
                Libc.close(fd);
                throw e;
            }
        }
    }

    private static void requireNative(KernelCall k, Iommufd iommufd, String device) throws IommufdException {
        if (iommufd.fd() < 0) {
            throw new IommufdException(k.op(), "device=" + device, Errno.value("ENODEV"), "VFIO devices need the native backend");
        }
    }

    /** VFIO_DEVICE_BIND_IOMMUFD of an open cdev; on failure the fd is left to the caller. */
    private static VfioDevice bind(KernelCall k, Iommufd iommufd, Path cdev, int fd) throws IommufdException {
        MemorySegment s = k.struct(vfio_device_bind_iommufd.sizeof());
        vfio_device_bind_iommufd.iommufd(s, iommufd.fd());
        k.ioctlOn(fd, VFIO_DEVICE_BIND_IOMMUFD(), s, x -> "device=" + cdev + ", iommufd=" + vfio_device_bind_iommufd.iommufd(x));
        return iommufd.track(new VfioDevice(iommufd, cdev, fd, vfio_device_bind_iommufd.out_devid(s)));
    }

    // ---- a cdev opened by someone else (sandboxed VMMs, README "Sandboxed VMMs") ----

    /**
     * Binds a VFIO device cdev that another process opened and passed over (e.g. a privileged
     * helper through {@link FdChannel}), as {@link #open} does, and takes ownership of the fd:
     * closing the device closes it. The fd is checked first: it must be a character device of the
     * kernel's {@code vfio-dev} class (its major number in {@code /proc/devices}), i.e. an open
     * {@code /dev/vfio/devices/vfioN}. On every refusal the fd stays open, owned by the caller.
     *
     * @param iommufd a native iommufd
     * @param cdevFd  the open cdev's file descriptor
     * @return the bound device, owning {@code cdevFd}
     * @throws IommufdException ENODEV for an fd that is not a VFIO cdev (or the software backend),
     *         EBADF for a closed fd, the kernel's errno of the bind (EINVAL when the cdev is bound
     *         already)
     * @throws IllegalArgumentException for a negative fd
     */
    public static VfioDevice fromFd(Iommufd iommufd, int cdevFd) throws IommufdException {
        if (cdevFd < 0) throw new IllegalArgumentException("VfioDevice.fromFd: fd " + cdevFd);
        try (KernelCall k = KernelCall.begin(iommufd, "VFIO_DEVICE_BIND_IOMMUFD")) {
            Path cdev = checkVfioCdev(cdevFd);
            requireNative(k, iommufd, cdev.toString());
            return bind(k, iommufd, cdev, cdevFd);
        }
    }

    /** The cdev's path if {@code fd} is an open VFIO device cdev; else the typed refusal. */
    static Path checkVfioCdev(int fd) throws IommufdException {
        Path link = Path.of("/proc/self/fd", Integer.toString(fd));
        String what = "fd=" + fd;
        String keep = " (the fd stays open, owned by the caller)";
        Path target;
        String refusal;
        try {
            // stat through the /proc link describes the open file itself, whatever its path.
            var attrs = Files.readAttributes(link, "unix:mode,rdev");
            int mode = (Integer) attrs.get("mode");
            long rdev = (Long) attrs.get("rdev");
            int major = (int) (((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL)); // glibc's major()
            boolean charDevice = (mode & 0170000) == 0020000;
            int vfio = charMajor("vfio-dev");
            target = Files.readSymbolicLink(link);
            refusal = charDevice && major == vfio ? null : target + (charDevice ? " is char device major " + major : " is no char device")
                    + (vfio < 0 ? "; the kernel has no vfio-dev cdevs" : "; vfio-dev is major " + vfio);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IommufdException("VfioDevice.fromFd", what, Errno.value("EBADF"), "not an open file descriptor" + keep);
        } catch (IOException e) {
            throw new IommufdException("VfioDevice.fromFd", what, Errno.value("EIO"), e + keep);
        }
        if (refusal != null) {
            throw new IommufdException("VfioDevice.fromFd", what, Errno.value("ENODEV"), "not a VFIO device cdev: " + refusal + keep);
        }
        return target;
    }

    /** The major number of a character device class in /proc/devices, or -1. */
    private static int charMajor(String name) throws IOException {
        boolean chars = false;
        for (String line : Files.readAllLines(Path.of("/proc/devices"))) {
            if (line.endsWith(":")) {
                chars = line.startsWith("Character");
                continue;
            }
            String[] f = line.trim().split("\\s+");
            if (chars && f.length == 2 && f[1].equals(name)) return Integer.parseInt(f[0]);
        }
        return -1;
    }

    /**
     * The cdev of a PCI device bound to {@code vfio-pci}, found through sysfs.
     *
     * @param pciAddress the device's address, e.g. {@code 0000:00:03.0}
     * @return e.g. {@code /dev/vfio/devices/vfio0}
     * @throws IOException when the device does not exist or is not bound to a VFIO driver
     */
    public static Path cdevOf(String pciAddress) throws IOException {
        Path dir = Path.of("/sys/bus/pci/devices", pciAddress, "vfio-dev");
        try (var s = Files.list(dir)) {
            return Path.of("/dev/vfio/devices", s.findFirst().orElseThrow(() -> new IOException("no vfio-dev in " + dir))
                    .getFileName().toString());
        }
    }

    /**
     * The iommufd device id: {@code dev_id} of HWPT_ALLOC, GET_HW_INFO, vIOMMU calls and fault
     * records.
     *
     * @return the device id
     */
    public int deviceId() {
        return deviceId;
    }

    /**
     * The cdev's file descriptor, e.g. for VFIO ioctls this class does not cover (interrupts,
     * VFIO_DEVICE_FEATURE). Owned by this handle: do not close it.
     *
     * @return the fd
     */
    public int fd() {
        return fd;
    }

    /**
     * VFIO_DEVICE_ATTACH_IOMMUFD_PT: attaches the device to an IOAS (through an automatic paging
     * table) or to a page table; on an attached device it replaces the attachment.
     *
     * @param ptId the id of an IOAS ({@link Ioas#id()}) or page table ({@link HwPagetable#id()})
     * @return the id of the page table used (the automatic one's for an IOAS)
     * @throws IommufdException ENOENT for an unknown id, EINVAL for an incompatible page table or
     *         object type, EADDRINUSE when a mapping lies outside the IOMMU's aperture
     */
    public int attach(int ptId) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_ATTACH_IOMMUFD_PT")) {
            MemorySegment s = k.struct(vfio_device_attach_iommufd_pt.sizeof());
            vfio_device_attach_iommufd_pt.pt_id(s, ptId);
            k.ioctlOn(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT(), s, x -> describe() + ", pt=" + ptId);
            return vfio_device_attach_iommufd_pt.pt_id(s);
        }
    }

    /**
     * VFIO_DEVICE_DETACH_IOMMUFD_PT: detaches the device; its DMA is blocked until it is attached
     * again.
     *
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
    public void detach() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_DETACH_IOMMUFD_PT")) {
            k.ioctlOn(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT(), k.struct(vfio_device_detach_iommufd_pt.sizeof()), x -> describe());
        }
    }

    /**
     * What VFIO_DEVICE_GET_INFO reports.
     *
     * @param flags   VFIO_DEVICE_FLAGS_* bits
     * @param regions the number of regions (BARs, config space, ...)
     * @param irqs    the number of interrupt indexes
     */
    public record Info(int flags, int regions, int irqs) {
        /**
         * VFIO_DEVICE_FLAGS_PCI: a PCI device (region and IRQ indexes as in {@code VFIO_PCI_*_INDEX}).
         *
         * @return true for a PCI device
         */
        public boolean isPci() {
            return (flags & VFIO_DEVICE_FLAGS_PCI()) != 0;
        }

        /**
         * VFIO_DEVICE_FLAGS_RESET: the device has a reset method.
         *
         * @return true if {@link VfioDevice#reset()} can work (otherwise it fails with EINVAL)
         */
        public boolean canReset() {
            return (flags & VFIO_DEVICE_FLAGS_RESET()) != 0;
        }
    }

    /**
     * VFIO_DEVICE_GET_INFO.
     *
     * @return the device's flags, region and interrupt counts
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
    public Info info() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_GET_INFO")) {
            MemorySegment s = k.struct(vfio_device_info.sizeof());
            k.ioctlOn(fd, VFIO_DEVICE_GET_INFO(), s, x -> describe());
            return new Info(vfio_device_info.flags(s), vfio_device_info.num_regions(s), vfio_device_info.num_irqs(s));
        }
    }

    /**
     * What VFIO_DEVICE_GET_REGION_INFO reports about a region.
     *
     * @param index  the region index (for PCI: BAR0..5 are 0..5, config space {@code VFIO_PCI_CONFIG_REGION_INDEX})
     * @param flags  VFIO_REGION_INFO_FLAG_* (READ, WRITE, MMAP)
     * @param size   the region's size in bytes (0: not implemented)
     * @param offset its offset in the cdev, for pread/pwrite/mmap
     */
    public record Region(int index, int flags, long size, long offset) {
        /**
         * VFIO_REGION_INFO_FLAG_MMAP: the region can be mapped with {@link VfioDevice#mmap}.
         *
         * @return true if it can
         */
        public boolean mmappable() {
            return (flags & VFIO_REGION_INFO_FLAG_MMAP()) != 0;
        }
    }

    /**
     * VFIO_DEVICE_GET_REGION_INFO of one region.
     *
     * @param index the region index
     * @return its size, offset and flags
     * @throws IommufdException EINVAL for an index beyond {@link Info#regions()}
     */
    public Region region(int index) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_GET_REGION_INFO")) {
            MemorySegment s = k.struct(vfio_region_info.sizeof());
            vfio_region_info.index(s, index);
            k.ioctlOn(fd, VFIO_DEVICE_GET_REGION_INFO(), s, x -> describe() + ", index=" + index);
            return new Region(index, vfio_region_info.flags(s), vfio_region_info.size(s), vfio_region_info.offset(s));
        }
    }

    /**
     * Maps a region (a BAR) into memory, read-write and shared, e.g. to let the guest reach the
     * device's registers directly. Accesses must follow the device's rules (size, alignment).
     *
     * @param region a mappable region ({@link Region#mmappable()})
     * @return the mapping, valid until this device is closed
     * @throws IommufdException the errno of mmap(2), e.g. EINVAL for a region that cannot be mapped
     */
    public MemorySegment mmap(Region region) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "mmap")) {
            long addr = Libc.mmap(0, region.size(), Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, region.offset());
            if (addr < 0) throw new IommufdException("mmap", describe() + ", region=" + region.index(), (int) -addr);
            long size = region.size();
            return MemorySegment.ofAddress(addr).reinterpret(size, arena, seg -> Libc.munmap(seg.address(), size));
        }
    }

    /**
     * Reads from a region through the cdev (pread), e.g. PCI config space.
     *
     * @param region the region
     * @param offset the offset in the region, in bytes
     * @param into   native, writable memory; its whole size is read
     * @throws IommufdException the errno of pread(2), or EIO for a short read
     */
    public void read(Region region, long offset, MemorySegment into) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "pread")) {
            k.kernelWrites(into, into.byteSize(), "into");
            long n = Libc.pread(fd, into, into.byteSize(), region.offset() + offset);
            if (n != into.byteSize()) throw k.failed(describe() + ", region=" + region.index(), n < 0 ? (int) -n : Errno.value("EIO"));
        }
    }

    /**
     * Writes to a region through the cdev (pwrite).
     *
     * @param region the region
     * @param offset the offset in the region, in bytes
     * @param from   native memory; its whole size is written
     * @throws IommufdException the errno of pwrite(2), or EIO for a short write
     */
    public void write(Region region, long offset, MemorySegment from) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "pwrite")) {
            k.kernelReads(from, from.byteSize(), "from");
            long n = Libc.pwrite(fd, from, from.byteSize(), region.offset() + offset);
            if (n != from.byteSize()) throw k.failed(describe() + ", region=" + region.index(), n < 0 ? (int) -n : Errno.value("EIO"));
        }
    }

    /**
     * The PCI config space region.
     *
     * @return its region info
     * @throws IommufdException EINVAL for a device that is not PCI
     */
    public Region configSpace() throws IommufdException {
        return region(VFIO_PCI_CONFIG_REGION_INDEX());
    }

    /**
     * VFIO_DEVICE_RESET: resets the device (FLR or another method the kernel picks).
     *
     * @throws IommufdException EINVAL when the device cannot be reset ({@link Info#canReset()})
     */
    public void reset() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_RESET")) {
            int rc = Libc.ioctl(fd, VFIO_DEVICE_RESET(), 0L);
            if (rc < 0) throw k.failed(describe(), -rc);
        }
    }

    /**
     * What VFIO_DEVICE_GET_IRQ_INFO reports about an interrupt index.
     *
     * @param index the interrupt index (for PCI: INTx 0, MSI 1, MSI-X 2, ...)
     * @param flags VFIO_IRQ_INFO_* bits (EVENTFD, MASKABLE, AUTOMASKED, NORESIZE)
     * @param count the number of vectors
     */
    public record IrqInfo(int index, int flags, int count) {}

    /**
     * VFIO_DEVICE_GET_IRQ_INFO of one interrupt index.
     *
     * @param index the interrupt index
     * @return its flags and vector count
     * @throws IommufdException EINVAL for an index beyond {@link Info#irqs()}
     */
    public IrqInfo irqInfo(int index) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_GET_IRQ_INFO")) {
            MemorySegment s = k.struct(vfio_irq_info.sizeof());
            vfio_irq_info.index(s, index);
            k.ioctlOn(fd, VFIO_DEVICE_GET_IRQ_INFO(), s, x -> describe() + ", index=" + index);
            return new IrqInfo(index, vfio_irq_info.flags(s), vfio_irq_info.count(s));
        }
    }

    @Override
    void release() {
        releaseFds();
    }

    @Override
    void closeFds() {
        arena.close();
        Libc.close(fd);
    }

    @Override
    String describe() {
        return "device=" + path + ", dev_id=" + deviceId;
    }

    /**
     * Names the device by cdev and device id.
     *
     * @return e.g. {@code VfioDevice[device=/dev/vfio/devices/vfio0, dev_id=1]}
     */
    @Override
    public String toString() {
        return "VfioDevice[" + describe() + "]";
    }
}
