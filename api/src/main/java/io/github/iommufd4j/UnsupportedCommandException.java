package io.github.iommufd4j;

/**
 * The running kernel lacks an iommufd command (its ioctl returned ENOTTY): names the command
 * and the first Linux version that has it.
 */
public final class UnsupportedCommandException extends IommufdException {
    /** The command the kernel lacks. */
    private final Command command;

    UnsupportedCommandException(Command command, String arguments) {
        super(command.ioctlName(), arguments, 25 /* ENOTTY */,
                "unsupported by this kernel (ENOTTY): " + command.ioctlName() + " needs Linux " + command.since() + " or later");
        this.command = command;
    }

    /**
     * The command the running kernel lacks; {@link Command#since()} says which release has it.
     *
     * @return the command
     */
    public Command command() {
        return command;
    }
}
