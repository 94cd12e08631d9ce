package io.github.iommufd4j.junit;

import io.github.iommufd4j.Iommufd;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Optional;

/**
 * The extension behind {@link GuestTest}. On a host without a usable iommufd it boots one guest
 * per annotated class before the class's tests, skips the class's lifecycle and test methods on
 * the host and replays each test's guest outcome in their place (test factories return the
 * guest's dynamic tests). Where the iommufd works it does nothing: the tests run directly.
 */
public final class GuestExtension implements ExecutionCondition, BeforeAllCallback, InvocationInterceptor {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(GuestExtension.class);
    private static final String REPORT = "report";

    /** Created by JUnit. */
    public GuestExtension() {}

    /** Whether the tests run here directly: inside a guest, or where the kernel's iommufd works. */
    static boolean direct() {
        if (System.getenv("IOMMUFD4J_RESULTS") != null && System.getenv("IOMMUFD4J_PROFILE") != null) return true;
        if (Boolean.getBoolean("iommufd4j.vm.force")) return false;
        return Iommufd.availability().available();
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (context.getTestMethod().isPresent()) return ConditionEvaluationResult.enabled("decided for the class");
        if (direct()) return ConditionEvaluationResult.enabled("the kernel's iommufd works here: running directly");
        Optional<GuestTest> t = annotation(context.getTestClass().orElse(null));
        if (t.isEmpty()) return ConditionEvaluationResult.enabled("no @GuestTest");
        String why = GuestRun.unavailableReason(GuestConfig.of(t.get()));
        return why == null ? ConditionEvaluationResult.enabled("runs in a guest")
                : ConditionEvaluationResult.disabled("@GuestTest skipped: " + why);
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        if (direct() || context.getStore(NS).get(REPORT) != null) return; // an enclosing class's guest ran it
        Class<?> c = context.getRequiredTestClass();
        Optional<GuestTest> t = annotation(c);
        if (t.isEmpty()) return; // registered without @GuestTest: nothing to run in a guest
        GuestConfig config = GuestConfig.of(t.get());
        context.getStore(NS).put(REPORT, GuestRun.run(config, c.getName() + ", " + config.describe(),
                List.of("--select-class=" + c.getName())));
    }

    private static Optional<GuestTest> annotation(Class<?> c) {
        for (; c != null; c = c.getEnclosingClass()) {
            GuestTest t = c.getAnnotation(GuestTest.class);
            if (t != null) return Optional.of(t);
        }
        return Optional.empty();
    }

    private static GuestReport report(ExtensionContext context) {
        return context.getStore(NS).get(REPORT, GuestReport.class);
    }

    @Override
    public void interceptTestMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> ic,
                                    ExtensionContext context) throws Throwable {
        replay(invocation, context);
    }

    @Override
    public void interceptTestTemplateMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> ic,
                                            ExtensionContext context) throws Throwable {
        replay(invocation, context);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> T interceptTestFactoryMethod(Invocation<T> invocation, ReflectiveInvocationContext<Method> ic,
                                            ExtensionContext context) throws Throwable {
        GuestReport r = report(context);
        if (r == null) return invocation.proceed();
        invocation.skip();
        r.replayContainer(context.getUniqueId());
        return (T) r.children(context.getUniqueId());
    }

    private static void replay(Invocation<Void> invocation, ExtensionContext context) throws Throwable {
        GuestReport r = report(context);
        if (r == null) {
            invocation.proceed();
            return;
        }
        invocation.skip();
        r.replay(context.getUniqueId());
    }

    // Lifecycle methods run in the guest only.

    @Override
    public void interceptBeforeAllMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> ic,
                                         ExtensionContext context) throws Throwable {
        skipOrProceed(invocation, context);
    }

    @Override
    public void interceptBeforeEachMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> ic,
                                          ExtensionContext context) throws Throwable {
        skipOrProceed(invocation, context);
    }

    @Override
    public void interceptAfterEachMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> ic,
                                         ExtensionContext context) throws Throwable {
        skipOrProceed(invocation, context);
    }

    @Override
    public void interceptAfterAllMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> ic,
                                        ExtensionContext context) throws Throwable {
        skipOrProceed(invocation, context);
    }

    private static void skipOrProceed(Invocation<Void> invocation, ExtensionContext context) throws Throwable {
        if (report(context) == null) invocation.proceed();
        else invocation.skip();
    }
}
