package io.github.iommufd4j;

import io.github.iommufd4j.internal.HandleState;

import java.util.ArrayList;
import java.util.List;

/**
 * What every iommufd object handle shares: an id in its iommufd, thread-safe idempotent close,
 * and the handles that depend on it (closed first, because the kernel refuses to destroy an
 * object that another one still references).
 */
abstract sealed class Handle implements AutoCloseable
        permits Ioas, HwPagetable, FaultQueue, MockDevice, MockAccess, VfioDevice, Viommu, Vdevice, EventQueue, HwQueue {
    final Iommufd iommufd;
    final HandleState state = new HandleState();
    private final List<Handle> dependents = new ArrayList<>();

    Handle(Iommufd iommufd) {
        this.iommufd = iommufd;
    }

    /** Registers a handle that must be closed before this one. */
    final void addDependent(Handle h) {
        synchronized (dependents) {
            dependents.add(h);
        }
    }

    final void removeDependent(Handle h) {
        synchronized (dependents) {
            dependents.remove(h);
        }
    }

    /** Whether {@link #close()} has been called (or the iommufd was closed). */
    public final boolean isClosed() {
        return state.isClosed();
    }

    /**
     * Closes dependents (newest first), then destroys this object in the kernel. Idempotent and
     * thread-safe: only the first call does anything; it waits for operations in progress.
     */
    @Override
    public final void close() throws IommufdException {
        if (!state.close()) return;
        IommufdException first = null;
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
            if (first == null) first = e;
        } finally {
            iommufd.forget(this);
        }
        if (first != null) throw first;
    }

    /** Called by {@link Iommufd#close()}: the kernel frees the objects with the fd; only our own fds remain. */
    final void abandon() {
        if (!state.close()) return;
        for (Handle h : takeDependents()) h.abandon();
        releaseFds();
    }

    private List<Handle> takeDependents() {
        synchronized (dependents) {
            List<Handle> copy = new ArrayList<>(dependents.reversed());
            dependents.clear();
            return copy;
        }
    }

    /** Destroys the kernel object (and closes any fd this handle owns). */
    abstract void release() throws IommufdException;

    /**
     * Closes file descriptors this handle owns, without kernel calls on the object itself (the
     * iommufd is about to close; a handle may undo state the kernel cannot free by itself).
     */
    void releaseFds() {}

    /** Throws the "closed" error if the handle is closed, otherwise enters an operation. */
    final void enter(String op) throws IommufdException {
        if (!state.enter()) throw IommufdException.closed(op, describe());
    }

    final void exit() {
        state.exit();
    }

    /** Ids for error messages, e.g. {@code ioas=3}. */
    abstract String describe();
}
