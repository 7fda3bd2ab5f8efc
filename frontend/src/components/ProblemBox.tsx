import type { Friendly } from "../lib/problem";

/** A problem shown to a person: what happened, the server's words, and what to do. */
export function ProblemBox({ problem, role = "alert" }: { problem: Friendly; role?: "alert" | "status" }) {
  return (
    <div className={role === "alert" ? "problem" : "problem notice"} role={role}>
      <p className="problem-title">{problem.title}</p>
      {problem.detail ? <p className="problem-detail">{problem.detail}</p> : null}
      <p className="problem-advice">{problem.advice}</p>
    </div>
  );
}
