import { describe, expect, it } from "vitest";
import { elapsedMs, formatBytes, formatDuration, statusLabel, workerLabel } from "./format";

describe("format", () => {
  it("writes sizes in decimal units, matching the pipelines' own descriptions", () => {
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(2048)).toBe("2 KB");
    expect(formatBytes(73_586)).toBe("74 KB");
    expect(formatBytes(20_000_000)).toBe("20 MB");
    expect(formatBytes(1_500_000_000)).toBe("1.5 GB");
  });

  it("writes durations a person reads at a glance", () => {
    expect(formatDuration(420)).toBe("420 ms");
    expect(formatDuration(1530)).toBe("1.5 s");
    expect(formatDuration(61_000)).toBe("1 min 1 s");
    expect(elapsedMs("2026-01-01T00:00:00Z", "2026-01-01T00:00:02.5Z")).toBe(2500);
    expect(elapsedMs(null, "2026-01-01T00:00:00Z")).toBeNull();
  });

  it("names workers and statuses in plain words", () => {
    expect(workerLabel("stt")).toBe("Speech recognition");
    expect(workerLabel("custom")).toBe("custom");
    expect(workerLabel("transform:join_audio")).toBe("Gateway · join_audio");
    expect(statusLabel("succeeded")).toBe("Done");
    expect(statusLabel("pending")).toBe("Waiting");
  });
});
