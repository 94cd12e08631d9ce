// jshell start-up for iommufd4j: the API imported and an Iommufd opened on the best backend.
import java.lang.foreign.*;
import io.github.iommufd4j.*;
import io.github.iommufd4j.pump.*;
import io.github.iommufd4j.uring.*;
var fd = Iommufd.open();
System.out.println("iommufd4j: fd = " + fd + " (" + fd.backendReason() + "); try fd.allocIoas(), fd.mock().isPresent(), /exit to leave");
