/** Problems in plain words, each with what the person can do about it. */
import type { Job, Problem, Step } from "../api/types";

export interface Friendly {
  title: string;
  detail?: string;
  advice: string;
}

export function friendlyProblem(problem: Problem): Friendly {
  const detail = problem.detail || undefined;
  switch (true) {
    case problem.status === 0:
      return {
        title: "Can't reach Modaline",
        detail,
        advice: "Check your connection and that Modaline is running, then try again.",
      };
    case problem.status === 401:
      return {
        title: "Your key was not accepted",
        detail,
        advice: "Sign in again with a key that works, or ask an admin of your team for a new one.",
      };
    case problem.status === 403:
      return {
        title: "Your key can't do that",
        detail,
        advice: "Ask an admin of your team for a key with the scope named above, or sign in with another key.",
      };
    case problem.status === 413:
      return { title: "That file is too large", detail, advice: "Choose a smaller file and try again." };
    case problem.status === 415:
      return {
        title: "That kind of file can't be used here",
        detail,
        advice: "Choose a file of one of the accepted types listed under the field.",
      };
    case problem.status === 422 || problem.status === 400:
      return {
        title: "Some inputs need fixing",
        detail,
        advice: "Look at the highlighted fields, correct them and send again.",
      };
    case problem.status === 404:
      return {
        title: "Not found",
        detail,
        advice: "It may have been removed, or the link is mistyped. Start again from the pipelines.",
      };
    case problem.status === 409:
      return { title: "That is no longer possible", detail, advice: "The job has already finished." };
    case problem.status === 429:
      return { title: "Modaline is busy", detail, advice: "Wait a moment and try again." };
    default:
      return {
        title: problem.title || "Something went wrong",
        detail,
        advice:
          "Try again in a minute. If it keeps happening, tell whoever runs Modaline what you were doing.",
      };
  }
}

const STEP_ADVICE: Record<string, string> = {
  stt: "The speech could not be turned into text. Try a clearer recording (a quiet room, speaking close to the microphone) or a WAV or MP3 file.",
  tts: "The text could not be spoken. Try shorter text in plain sentences.",
  llm: "The language model could not answer. Try rephrasing or shortening your text.",
  image: "The picture could not be drawn. Try a shorter, simpler description.",
  cyclegan: "The image could not be restyled. Try another picture (PNG or JPEG) or another style.",
};

/** Why a job failed, in plain words, with advice from the step that failed. */
export function jobFailure(job: Job): Friendly | null {
  if (job.status === "canceled") {
    return { title: "You canceled this job", advice: "Run it again whenever you like." };
  }
  if (job.status !== "failed") return null;
  const failed: Step | undefined =
    job.steps.find((step) => step.id === job.error?.step_id) ?? job.steps.find((step) => step.status === "failed" && !step.fallback);
  const retryable = failed?.error?.retryable === true;
  const advice = retryable
    ? "The service behind this step was busy or unreachable. Run the job again in a minute."
    : (failed && STEP_ADVICE[failed.worker]) ?? "Check your inputs and run the job again.";
  return {
    title: job.error?.title || failed?.error?.title || "The job failed",
    detail: job.error?.detail || failed?.error?.detail || undefined,
    advice,
  };
}
