package io.github.iommufd4j;

/**
 * The running kernel lacks an iommufd command (its ioctl returned ENOTTY): names the command
 * and the first Linux version that has it.
 */
public final class UnsupportedCommandException extends IommufdException {
    private final Command command;

    UnsupportedCommandException(Command command, String arguments) {
        super(command.ioctlName(), arguments, 25 /* ENOTTY */,
                "unsupported by this kernel (ENOTTY): " + command.ioctlName() + " needs Linux " + command.since() + " or later");
        this.command = command;
    }

    public Command command() {
        return command;
    }
}
