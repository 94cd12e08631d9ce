/**
 * Serving fault and event queues: the {@link io.github.iommufd4j.pump.FaultPump} reads I/O page
 * faults from one or more {@link io.github.iommufd4j.FaultQueue}s in batches on its own thread
 * (io_uring for readiness, one read(2) and one write(2) per batch), hands each page request group
 * to a {@link io.github.iommufd4j.pump.FaultHandler} and writes the answers, without allocating
 * per fault; it serves vIOMMU {@link io.github.iommufd4j.EventQueue}s with an
 * {@link io.github.iommufd4j.pump.EventHandler} on the same thread.
 * {@link io.github.iommufd4j.pump.BlockingFaultLoop} is the plain alternative on the calling
 * thread.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=pump}
 */
package io.github.iommufd4j.pump;
