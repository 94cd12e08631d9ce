package io.github.iommufd4j.bench;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The table as a PNG (java.awt, headless; no plotting library, nothing fetched). A pair is two
 * bars (medians) scaled to the larger figure, A over B, with the ratio, its spread and the verdict
 * beside them; a single figure is one bar with its target drawn as a red tick.
 */
final class Chart {
    private static final int W = 1400, ROW = 34, TOP = 70, BAR_X = 480, BAR_W = 420, RIGHT_X = BAR_X + BAR_W + 230;
    private static final Color A = new Color(0x2f6fb2), B = new Color(0x9a9a9a), MET = new Color(0x1f8a3a),
            MISSED = new Color(0xc0392b), GRID = new Color(0xe6e6e6);

    private Chart() {}

    static void write(Report report, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int h = TOP + ROW * report.rows().size() + 40;
        BufferedImage img = new BufferedImage(W, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, W, h);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            g.drawString("iommufd4j bench (" + report.mode() + "), Java backend " + report.backend(), 10, 22);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            Environment e = report.env();
            g.drawString("kernel " + e.kernel() + "   QEMU " + e.qemu() + "   JDK " + e.jdk() + "   CPUs " + e.cpus(), 10, 42);
            g.setColor(A);
            g.fillRect(10, 52, 10, 8);
            g.setColor(B);
            g.fillRect(60, 52, 10, 8);
            g.setColor(Color.DARK_GRAY);
            g.drawString("A", 24, 60);
            g.drawString("B", 74, 60);
            int y = TOP;
            for (Row r : report.rows()) {
                row(g, r, y);
                y += ROW;
            }
        } finally {
            g.dispose();
        }
        ImageIO.write(img, "png", file.toFile());
    }

    private static void row(Graphics2D g, Row r, int y) {
        g.setColor(GRID);
        g.drawLine(10, y + ROW - 2, W - 10, y + ROW - 2);
        g.setColor(Color.BLACK);
        g.drawString(clip(r.name(), 70), 10, y + 14);
        g.setColor(Color.GRAY);
        g.drawString(r.unit(), 10, y + 27);
        double max = Math.max(nz(r.a()), Math.max(nz(r.b()), r.target() != null && !r.target().onRatio() ? r.target().bound() : 0));
        if (r.isPair()) {
            bar(g, r.aLabel(), r.a(), max, y + 3, A);
            bar(g, r.bLabel(), r.b(), max, y + 17, B);
        } else {
            bar(g, r.aLabel(), r.a(), max, y + 8, A);
            if (r.target() != null && max > 0) {
                int x = BAR_X + (int) (BAR_W * r.target().bound() / max);
                g.setColor(MISSED);
                g.setStroke(new BasicStroke(2));
                g.drawLine(x, y + 4, x, y + 26);
                g.setStroke(new BasicStroke(1));
            }
        }
        String verdict = r.verdict();
        g.setColor(verdict.equals("met") ? MET : verdict.equals("missed") ? MISSED : Color.DARK_GRAY);
        String right = (r.isPair() ? "A/B " + Report.number(r.ratio(), 3) + " (" + Report.spread(r) + ")  " : "")
                + (r.target() != null ? r.target().text() + ": " + verdict : r.notRun() != null ? verdict : "");
        g.drawString(right, RIGHT_X, y + 19);
    }

    private static void bar(Graphics2D g, String label, double v, double max, int y, Color c) {
        int w = Double.isNaN(v) || max <= 0 ? 0 : Math.max(1, (int) (BAR_W * v / max));
        g.setColor(c);
        g.fillRect(BAR_X, y, w, 11);
        g.setColor(Color.BLACK);
        g.drawString(Report.figure(label, v), BAR_X + w + 6, y + 10);
    }

    private static double nz(double v) {
        return Double.isNaN(v) ? 0 : v;
    }

    private static String clip(String s, int n) {
        return s.length() <= n ? s : s.substring(0, n - 1) + "…";
    }
}
