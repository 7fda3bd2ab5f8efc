import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { file } from "../test/fixtures";
import { OutputValue } from "./OutputValue";

describe("OutputValue", () => {
  it("says so when a file's (signed, expiring) link no longer loads", () => {
    const signed = "/v1/files/pic?expires=1&signature=abc";
    render(<OutputValue value={file({ id: "pic", url: signed })} title="Picture" />);
    const image = screen.getByRole("img", { name: "Picture" });
    expect(image).toHaveAttribute("src", signed);
    expect(screen.queryByText(/could not be loaded/)).not.toBeInTheDocument();
    fireEvent.error(image);
    expect(screen.getByText(/its link may have expired. Reload the page/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: /Download/ })).toHaveAttribute("href", signed);
  });
});
