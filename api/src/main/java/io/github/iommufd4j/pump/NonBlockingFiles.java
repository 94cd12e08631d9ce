package io.github.iommufd4j.pump;

import io.github.iommufd4j.bindings.Libc;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * O_NONBLOCK on a fault queue's file while pumps serve it (see {@link FaultSource}). File status
 * flags belong to the open file, which every duplicate of the queue's fd shares, and several pumps
 * may serve one queue: the first pump sets O_NONBLOCK and keeps the flags it found, the last one
 * to let go restores them. A pump that restored them while another still served the queue would
 * send that pump's ring writes to io-wq workers.
 */
final class NonBlockingFiles {
    private record Use(int savedFlags, int pumps) {}

    private static final Map<Object, Use> USES = new IdentityHashMap<>(); // guarded by itself

    private NonBlockingFiles() {}

    /** A pump starts serving {@code queue} through {@code fd}: true once the file has O_NONBLOCK. */
    static boolean acquire(Object queue, int fd) {
        synchronized (USES) {
            Use u = USES.get(queue);
            if (u != null) {
                USES.put(queue, new Use(u.savedFlags(), u.pumps() + 1));
                return true;
            }
            int flags = Libc.fcntl(fd, Libc.F_GETFL, 0);
            if (flags < 0 || Libc.fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK) != 0) return false;
            USES.put(queue, new Use(flags, 1));
            return true;
        }
    }

    /** A pump that {@link #acquire acquired} {@code queue} lets go; the last one restores the flags through {@code fd}. */
    static void release(Object queue, int fd) {
        synchronized (USES) {
            Use u = USES.get(queue);
            if (u == null) return;
            if (u.pumps() > 1) {
                USES.put(queue, new Use(u.savedFlags(), u.pumps() - 1));
                return;
            }
            USES.remove(queue);
            Libc.fcntl(fd, Libc.F_SETFL, u.savedFlags());
        }
    }
}
