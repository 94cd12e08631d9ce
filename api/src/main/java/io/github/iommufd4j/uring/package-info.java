/**
 * A small, allocation-free io_uring binding: the rings are driven from Java over their mmapped
 * memory with acquire/release ordering, and the three io_uring system calls are made through
 * FFM. Entry point: {@link io.github.iommufd4j.uring.IoUring}.
 */
package io.github.iommufd4j.uring;
