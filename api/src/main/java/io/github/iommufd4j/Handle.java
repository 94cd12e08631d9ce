package io.github.iommufd4j;

import io.github.iommufd4j.internal.HandleState;
import io.github.iommufd4j.internal.HandleStates;

import java.util.ArrayList;
import java.util.List;

/**
 * What every iommufd object handle shares: an id in its iommufd, the close contract, and the
 * handles that depend on it (closed first, because the kernel refuses to destroy an object that
 * another one still references).
 *
 * <p>Close contract (README "Closing handles"): {@link #close()} is idempotent and thread-safe and
 * never spins. It marks the handle closed at once (new calls fail with EBADF "handle is closed"),
 * wakes threads blocked on it (they get the same error), waits without spinning for kernel calls
 * in flight, closes its dependents newest first, then destroys the kernel object. A concurrent
 * second close returns once the first has finished. If the kernel refuses the destroy (e.g.
 * EBUSY, an object made outside this handle still uses it), close throws that error and the
 * handle stays closed; the kernel object then lives until the iommufd is closed (or
 * {@link Iommufd#destroy(int)} succeeds).
 */
abstract sealed class Handle implements AutoCloseable
        permits Ioas, HwPagetable, RecordQueue, MockDevice, MockAccess, VfioDevice, Viommu, Vdevice, HwQueue {
    final Iommufd iommufd;
    final HandleState state = new HandleState();
    /** The call stack of the thread that last began a kernel call on this handle (KernelCall's cache). */
    KernelCall.Stack callStack;
    private final List<Handle> dependents = new ArrayList<>();
    private boolean fdsReleased;

    static {
        HandleStates.register(h -> ((Handle) h).state);
    }

    Handle(Iommufd iommufd) {
        this.iommufd = iommufd;
    }

    /** Registers a handle that must be closed before this one. */
    final void addDependent(Handle h) {
        synchronized (dependents) {
            dependents.add(h);
        }
    }

    /**
     * Whether {@link #close()} has been called on this handle, or on a handle or iommufd that
     * closed it.
     *
     * @return true once closing has begun
     */
    public final boolean isClosed() {
        return state.isClosed();
    }

    /**
     * Closes the handles that depend on this one (newest first), then destroys this object in the
     * kernel and closes the file descriptors it owns. Idempotent and thread-safe; see the class
     * comment for the full contract.
     *
     * @throws IommufdException the kernel refused the destroy (e.g. EBUSY: an object made outside this
     *         handle, or a mapping of {@link Viommu#mapRegion}, still uses it); the handle stays
     *         closed and the kernel object lives until the iommufd closes
     */
    @Override
    public final void close() throws IommufdException {
        if (!shut()) {
            state.awaitReleased();
            return;
        }
        IommufdException first = null;
        try {
            state.awaitIdle(KernelCall.heldByCurrentThread(state));
            for (Handle h : takeDependents()) {
                try {
                    h.close();
                } catch (IommufdException e) {
                    if (first == null) first = e;
                }
            }
            try {
                release();
            } catch (IommufdException e) {
                // The iommufd closing meanwhile destroys the object with it: nothing is left to report.
                if (first == null && !iommufd.isClosed()) first = e;
                releaseFds();
            }
        } finally {
            iommufd.forget(this);
            state.markReleased();
        }
        if (first != null) throw first;
    }

    /**
     * Marks the handle closed and wakes threads blocked on it; true for the one call that closed
     * it, which must then finish with {@link #close()}'s work or {@link #abandon()}.
     */
    final boolean shut() {
        if (!state.markClosed()) return false;
        wakeWaiters();
        state.tellHolders();
        return true;
    }

    /**
     * Called by {@link Iommufd#close()} after {@link #shut()} returned true: the kernel frees the
     * objects with the fd; only our own fds (and state the kernel cannot free) remain.
     */
    final void abandon() {
        try {
            state.awaitIdle(KernelCall.heldByCurrentThread(state));
            synchronized (dependents) {
                dependents.clear(); // they are in the iommufd's list too
            }
            releaseFds();
        } finally {
            state.markReleased();
        }
    }

    private List<Handle> takeDependents() {
        synchronized (dependents) {
            List<Handle> copy = new ArrayList<>(dependents.reversed());
            dependents.clear();
            return copy;
        }
    }

    /** Wakes threads blocked in a call on this handle (queues override it); they see it closed. */
    void wakeWaiters() {}

    /** Destroys the kernel object (and closes any fd this handle owns). */
    abstract void release() throws IommufdException;

    /** Runs {@link #closeFds()} once: a second close(2) could hit a number another file reused. */
    final void releaseFds() {
        boolean first;
        synchronized (dependents) {
            first = !fdsReleased;
            fdsReleased = true;
        }
        if (first) closeFds();
    }

    /**
     * Closes file descriptors this handle owns, without kernel calls on the object itself (the
     * iommufd is about to close; a handle may undo state the kernel cannot free by itself).
     */
    void closeFds() {}

    /** Ids for error messages, e.g. {@code ioas=3}. */
    abstract String describe();
}
