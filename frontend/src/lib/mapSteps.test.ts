import { describe, expect, it } from "vitest";
import { step } from "../test/fixtures";
import { drawSteps } from "../test/story";
import { countItems, groupSteps, parseItemId, progressText } from "./mapSteps";

describe("map steps", () => {
  it("reads an item's map step and index from its id", () => {
    expect(parseItemId("draw[3]")).toEqual({ parent: "draw", index: 3 });
    expect(parseItemId("draw_more[12]")).toEqual({ parent: "draw_more", index: 12 });
    expect(parseItemId("draw")).toBeNull();
    expect(parseItemId("draw[x]")).toBeNull();
  });

  it("groups items under their map step, in index order, and keeps the other steps as they are", () => {
    const [parent, ...items] = drawSteps(["succeeded", "running", "pending"]);
    const groups = groupSteps([step({ id: "split" }), parent, items[2], items[0], items[1], step({ id: "join" })]);
    expect(groups.map((group) => group.step.id)).toEqual(["split", "draw", "join"]);
    expect(groups[1].items.map((item) => item.id)).toEqual(["draw[0]", "draw[1]", "draw[2]"]);
    expect(groups[0].items).toEqual([]);
  });

  it("counts items and words the progress after the worker", () => {
    const [parent, ...items] = drawSteps(["succeeded", "succeeded", "failed", "running"]);
    const counts = countItems(parent, items);
    expect(counts).toEqual({ total: 4, succeeded: 2, failed: 1, running: 1 });
    expect(progressText(parent, counts)).toBe("2 of 4 drawn, 1 failed");
    expect(progressText({ ...parent, worker: "tts" }, { ...counts, failed: 0 })).toBe("2 of 4 spoken");
    expect(progressText({ ...parent, worker: "transform:x" }, { ...counts, failed: 0 })).toBe("2 of 4 done");
  });

  it("takes the total from the API when not every item is known yet", () => {
    const parent = step({ id: "draw", items: { total: 10, succeeded: 0, failed: 0, running: 0 } });
    expect(countItems(parent, []).total).toBe(10);
  });

  it("says a map step waits for its list before it has items", () => {
    const pending = step({ id: "draw", worker: "image", status: "pending" });
    expect(progressText(pending, countItems(pending, []))).toBe("Waiting for its list");
  });
});
