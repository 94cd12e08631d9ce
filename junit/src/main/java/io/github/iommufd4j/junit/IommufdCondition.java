package io.github.iommufd4j.junit;

import io.github.iommufd4j.Availability;
import io.github.iommufd4j.Iommufd;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

import java.nio.file.Files;
import java.nio.file.Path;

/** The condition behind {@link RequiresIommufd}. */
public final class IommufdCondition implements ExecutionCondition {
    /** Created by JUnit. */
    public IommufdCondition() {}

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        var annotation = context.getElement().flatMap(e -> AnnotationSupport.findAnnotation(e, RequiresIommufd.class));
        if (annotation.isEmpty()) return ConditionEvaluationResult.enabled("no @RequiresIommufd");
        Availability a = Iommufd.availability();
        if (!a.available()) return ConditionEvaluationResult.disabled("kernel iommufd unavailable: " + a.reason());
        String vfio = annotation.get().vfioDevice();
        if (!vfio.isEmpty() && !Files.exists(Path.of(vfio))) {
            return ConditionEvaluationResult.disabled("no " + vfio + " (e.g. in a @GuestTest guest of the intel or virtio profile)");
        }
        return ConditionEvaluationResult.enabled(a.reason());
    }
}
