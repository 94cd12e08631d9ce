package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_vevent_arm_smmuv3;

/**
 * An SMMUv3 event record read from a vEVENTQ of type {@link #VEVENTQ_TYPE}
 * ({@code struct iommu_vevent_arm_smmuv3}): the 256-bit record of the SMMUv3 event queue with the
 * stream id replaced by the device's virtual stream id, ready for the guest's event queue. The
 * kernel forwards C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, C_BAD_CD, F_TRANSLATION,
 * F_ADDR_SIZE, F_ACCESS and F_PERMISSION of devices that have a {@link Vdevice}.
 *
 * @param words the record's four 64-bit words (a copy)
 */
public record Smmuv3Event(long[] words) {
    /** {@code IOMMU_VEVENTQ_TYPE_ARM_SMMUV3}. */
    public static final int VEVENTQ_TYPE = Uapi.IOMMU_VEVENTQ_TYPE_ARM_SMMUV3();
    /** Bytes of payload per record. */
    public static final int BYTES = (int) iommu_vevent_arm_smmuv3.sizeof();
    /** Event ids (SMMUv3 event records). */
    public static final int C_BAD_STE = 0x04, F_STREAM_DISABLED = 0x06, C_BAD_SUBSTREAMID = 0x08, C_BAD_CD = 0x0a,
            F_TRANSLATION = 0x10, F_ADDR_SIZE = 0x11, F_ACCESS = 0x12, F_PERMISSION = 0x13;

    /**
     * Checks and copies the words.
     *
     * @throws IllegalArgumentException unless there are four words
     */
    public Smmuv3Event {
        if (words.length != 4) throw new IllegalArgumentException("an SMMUv3 event has 4 words, not " + words.length);
        words = words.clone();
    }

    /**
     * Decodes record {@code i} of a batch read from an SMMUv3 vEVENTQ.
     *
     * @param batch the batch ({@link EventQueue#newBatch(int)} of a {@link #VEVENTQ_TYPE} queue)
     * @param i     the record index
     * @return the event
     * @throws IndexOutOfBoundsException for an index outside the batch
     * @throws IllegalStateException for a lost-events header
     * @throws IllegalArgumentException when the batch's payload is not an SMMUv3 event
     */
    public static Smmuv3Event of(VirtualEvents batch, int i) {
        if (batch.payloadSize() != BYTES) throw new IllegalArgumentException("payload of " + batch.payloadSize() + " bytes is not an SMMUv3 event");
        long[] w = new long[4];
        // __aligned_le64 evt[4]: the host is little-endian wherever SMMUv3 and x86 iommufd run.
        for (int k = 0; k < 4; k++) w[k] = batch.payloadLong(i, (int) iommu_vevent_arm_smmuv3.evt$offset() + 8 * k);
        return new Smmuv3Event(w);
    }

    /**
     * The record's words (a copy).
     *
     * @return four words
     */
    @Override
    public long[] words() {
        return words.clone();
    }

    /**
     * The event id (bits 7:0).
     *
     * @return e.g. {@link #F_TRANSLATION}
     */
    public int id() {
        return (int) (words[0] & 0xff);
    }

    /**
     * The virtual stream id of the device (bits 63:32): its {@link Vdevice#virtId()}.
     *
     * @return the stream id
     */
    public int streamId() {
        return (int) (words[0] >>> 32);
    }

    /**
     * SSV: the transaction had a substream id.
     *
     * @return the bit
     */
    public boolean substreamValid() {
        return (words[0] & (1L << 11)) != 0;
    }

    /**
     * The substream id (bits 31:12), meaningful if {@link #substreamValid()}.
     *
     * @return the substream id
     */
    public int substreamId() {
        return (int) (words[0] >>> 12) & 0xfffff;
    }

    /**
     * Stall: the transaction is stalled and waits for a resume (fault events only).
     *
     * @return the bit
     */
    public boolean stall() {
        return (words[1] & (1L << 31)) != 0;
    }

    /**
     * RnW: the transaction was a read (else a write).
     *
     * @return true for a read
     */
    public boolean read() {
        return (words[1] & (1L << 35)) != 0;
    }

    /**
     * S2: the fault happened at stage 2 (else stage 1).
     *
     * @return true for stage 2
     */
    public boolean stage2() {
        return (words[1] & (1L << 39)) != 0;
    }

    /**
     * CLASS (bits 41:40 of word 1): 0 the CD fetch, 1 a translation table walk, 2 the input address.
     *
     * @return the class
     */
    public int faultClass() {
        return (int) (words[1] >>> 40) & 3;
    }

    /**
     * The input address of the faulting transaction (word 2; for fault events).
     *
     * @return the address
     */
    public long inputAddress() {
        return words[2];
    }

    /**
     * The IPA (bits 51:12 of word 3) of a stage-2 fault, or the fetch address of a table walk.
     *
     * @return word 3 bits 51:3
     */
    public long ipaOrFetchAddress() {
        return words[3] & 0x000f_ffff_ffff_fff8L;
    }

    /**
     * Id, stream id and the input address.
     *
     * @return e.g. {@code Smmuv3Event[id=0x10, sid=0x8, addr=0x1000, read]}
     */
    @Override
    public String toString() {
        return "Smmuv3Event[id=0x" + Integer.toHexString(id()) + ", sid=0x" + Integer.toHexString(streamId()) + ", addr=0x"
                + Long.toHexString(inputAddress()) + (read() ? ", read" : ", write") + (stage2() ? ", s2" : "") + "]";
    }

    /**
     * Equal words.
     *
     * @param o another object
     * @return true for the same record
     */
    @Override
    public boolean equals(Object o) {
        return o instanceof Smmuv3Event e && java.util.Arrays.equals(e.words, words);
    }

    /**
     * A hash of the words.
     *
     * @return the hash
     */
    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(words);
    }
}
