package io.github.iommufd4j.internal.uring;

import java.util.Arrays;

/** A {@link CompletionHandler} that records completions into growable arrays (for tests). */
final class Recorder implements CompletionHandler {
    long[] userData = new long[64];
    int[] res = new int[64];
    int[] flags = new int[64];
    int count;

    @Override
    public void complete(long userData, int res, int flags) {
        if (count == this.userData.length) {
            this.userData = Arrays.copyOf(this.userData, count * 2);
            this.res = Arrays.copyOf(this.res, count * 2);
            this.flags = Arrays.copyOf(this.flags, count * 2);
        }
        this.userData[count] = userData;
        this.res[count] = res;
        this.flags[count] = flags;
        count++;
    }

    void clear() {
        count = 0;
    }

    /** Index of the first completion with this user_data, or -1. */
    int indexOf(long ud) {
        for (int i = 0; i < count; i++) if (userData[i] == ud) return i;
        return -1;
    }

    int resOf(long ud) {
        int i = indexOf(ud);
        if (i < 0) throw new AssertionError("no completion with user_data " + ud + " in " + this);
        return res[i];
    }

    int flagsOf(long ud) {
        int i = indexOf(ud);
        if (i < 0) throw new AssertionError("no completion with user_data " + ud + " in " + this);
        return flags[i];
    }

    /** Waits (submitting first) until at least {@code n} completions have been recorded in total. */
    void awaitCount(IoUring ring, int n) throws IoUringException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (count < n) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + n + " completions: " + this);
            ring.submitAndWait(1, 100_000_000L);
            ring.processCompletions(this);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < count; i++) {
            if (i > 0) sb.append(", ");
            sb.append("(ud=").append(userData[i]).append(", res=").append(res[i]).append(", flags=0x")
                    .append(Integer.toHexString(flags[i])).append(')');
        }
        return sb.append(']').toString();
    }
}
