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
 * A VFIO cdev device ({@code /dev/vfio/devices/vfioN}) bound to an iommufd
 * (VFIO_DEVICE_BIND_IOMMUFD). Closing it closes the cdev, which detaches and unbinds it.
 * Native backend only.
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

    /** Opens a VFIO cdev and binds it to {@code iommufd}. */
    public static VfioDevice open(Iommufd iommufd, Path cdev) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, "VFIO_DEVICE_BIND_IOMMUFD")) {
            if (iommufd.fd() < 0) {
                throw new IommufdException(k.op(), "device=" + cdev, Errno.value("ENODEV"), "VFIO devices need the native backend");
            }
            int fd = Libc.open(cdev.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw new IommufdException("open", cdev.toString(), -fd);
            MemorySegment s = k.struct(vfio_device_bind_iommufd.sizeof());
            vfio_device_bind_iommufd.iommufd(s, iommufd.fd());
            try {
                k.ioctlOn(fd, VFIO_DEVICE_BIND_IOMMUFD(), s, x -> "device=" + cdev + ", iommufd=" + vfio_device_bind_iommufd.iommufd(x));
            } catch (IommufdException e) {
                Libc.close(fd);
                throw e;
            }
            return iommufd.track(new VfioDevice(iommufd, cdev, fd, vfio_device_bind_iommufd.out_devid(s)));
        }
    }

    /** The cdev of a PCI device by address (e.g. {@code 0000:00:03.0}), from sysfs. */
    public static Path cdevOf(String pciAddress) throws IOException {
        Path dir = Path.of("/sys/bus/pci/devices", pciAddress, "vfio-dev");
        try (var s = Files.list(dir)) {
            return Path.of("/dev/vfio/devices", s.findFirst().orElseThrow(() -> new IOException("no vfio-dev in " + dir))
                    .getFileName().toString());
        }
    }

    /** The iommufd device id ({@code dev_id} of HWPT_ALLOC, GET_HW_INFO, fault records). */
    public int deviceId() {
        return deviceId;
    }

    public int fd() {
        return fd;
    }

    /** VFIO_DEVICE_ATTACH_IOMMUFD_PT: attaches to an IOAS or a page table id; returns the HWPT id used. */
    public int attach(int ptId) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_ATTACH_IOMMUFD_PT")) {
            MemorySegment s = k.struct(vfio_device_attach_iommufd_pt.sizeof());
            vfio_device_attach_iommufd_pt.pt_id(s, ptId);
            k.ioctlOn(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT(), s, x -> describe() + ", pt=" + ptId);
            return vfio_device_attach_iommufd_pt.pt_id(s);
        }
    }

    /** VFIO_DEVICE_DETACH_IOMMUFD_PT. */
    public void detach() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_DETACH_IOMMUFD_PT")) {
            k.ioctlOn(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT(), k.struct(vfio_device_detach_iommufd_pt.sizeof()), x -> describe());
        }
    }

    /** VFIO_DEVICE_GET_INFO. */
    public record Info(int flags, int regions, int irqs) {
        public boolean isPci() {
            return (flags & VFIO_DEVICE_FLAGS_PCI()) != 0;
        }

        /** VFIO_DEVICE_FLAGS_RESET: the device has a reset method (otherwise reset() fails with EINVAL). */
        public boolean canReset() {
            return (flags & VFIO_DEVICE_FLAGS_RESET()) != 0;
        }
    }

    public Info info() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_GET_INFO")) {
            MemorySegment s = k.struct(vfio_device_info.sizeof());
            k.ioctlOn(fd, VFIO_DEVICE_GET_INFO(), s, x -> describe());
            return new Info(vfio_device_info.flags(s), vfio_device_info.num_regions(s), vfio_device_info.num_irqs(s));
        }
    }

    /** VFIO_DEVICE_GET_REGION_INFO: size, offset in the cdev and flags (READ/WRITE/MMAP) of a region. */
    public record Region(int index, int flags, long size, long offset) {
        public boolean mmappable() {
            return (flags & VFIO_REGION_INFO_FLAG_MMAP()) != 0;
        }
    }

    public Region region(int index) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_GET_REGION_INFO")) {
            MemorySegment s = k.struct(vfio_region_info.sizeof());
            vfio_region_info.index(s, index);
            k.ioctlOn(fd, VFIO_DEVICE_GET_REGION_INFO(), s, x -> describe() + ", index=" + index);
            return new Region(index, vfio_region_info.flags(s), vfio_region_info.size(s), vfio_region_info.offset(s));
        }
    }

    /** Maps a region (a BAR) into memory; the segment is valid until this device is closed. */
    public MemorySegment mmap(Region region) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "mmap")) {
            long addr = Libc.mmap(0, region.size(), Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, region.offset());
            if (addr < 0) throw new IommufdException("mmap", describe() + ", region=" + region.index(), (int) -addr);
            long size = region.size();
            return MemorySegment.ofAddress(addr).reinterpret(size, arena, seg -> Libc.munmap(seg.address(), size));
        }
    }

    /** Reads from a region through the cdev (pread), e.g. PCI config space. */
    public void read(Region region, long offset, MemorySegment into) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "pread")) {
            k.kernelWrites(into, into.byteSize(), "into");
            long n = Libc.pread(fd, into, into.byteSize(), region.offset() + offset);
            if (n != into.byteSize()) throw new IommufdException(k.op(), describe() + ", region=" + region.index(), n < 0 ? (int) -n : Errno.value("EIO"));
        }
    }

    /** Writes to a region through the cdev (pwrite). */
    public void write(Region region, long offset, MemorySegment from) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "pwrite")) {
            k.kernelReads(from, from.byteSize(), "from");
            long n = Libc.pwrite(fd, from, from.byteSize(), region.offset() + offset);
            if (n != from.byteSize()) throw new IommufdException(k.op(), describe() + ", region=" + region.index(), n < 0 ? (int) -n : Errno.value("EIO"));
        }
    }

    /** The PCI config space region. */
    public Region configSpace() throws IommufdException {
        return region(VFIO_PCI_CONFIG_REGION_INDEX());
    }

    /** VFIO_DEVICE_RESET. */
    public void reset() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "VFIO_DEVICE_RESET")) {
            int rc = Libc.ioctl(fd, VFIO_DEVICE_RESET(), 0L);
            if (rc < 0) throw new IommufdException(k.op(), describe(), -rc);
        }
    }

    /** VFIO_DEVICE_GET_IRQ_INFO: flags and vector count of an interrupt index. */
    public record IrqInfo(int index, int flags, int count) {}

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

    @Override
    public String toString() {
        return "VfioDevice[" + describe() + "]";
    }
}
