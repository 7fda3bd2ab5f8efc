/** TanStack Query hooks: the cache keys and fetchers of everything the UI reads. */
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import { isTerminal, type Job, type JobStatus } from "./types";

export const keys = {
  pipelines: ["pipelines"] as const,
  pipeline: (name: string) => ["pipelines", name] as const,
  job: (id: string) => ["jobs", "one", id] as const,
  jobs: (filter: JobFilter) => ["jobs", "list", filter] as const,
};

export interface JobFilter {
  pipeline?: string;
  status?: JobStatus;
}

export function usePipelines() {
  return useQuery({
    queryKey: keys.pipelines,
    queryFn: () => call(api.GET("/v1/pipelines")),
    staleTime: 60_000,
  });
}

export function usePipeline(name: string) {
  return useQuery({
    queryKey: keys.pipeline(name),
    queryFn: () => call(api.GET("/v1/pipelines/{name}", { params: { path: { name } } })),
    enabled: name !== "",
    staleTime: 60_000,
  });
}

export function fetchJob(id: string): Promise<Job> {
  return call(api.GET("/v1/jobs/{job_id}", { params: { path: { job_id: id } } }));
}

/** A job; while `poll` is on and the job is unfinished, refetched every `pollMs`. */
export function useJob(id: string, poll: boolean, pollMs = 1000) {
  return useQuery({
    queryKey: keys.job(id),
    queryFn: () => fetchJob(id),
    refetchInterval: (query) => {
      const job = query.state.data;
      return poll && (!job || !isTerminal(job.status)) ? pollMs : false;
    },
  });
}

export const PAGE_SIZE = 20;

export function useJobs(filter: JobFilter) {
  return useInfiniteQuery({
    queryKey: keys.jobs(filter),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      call(
        api.GET("/v1/jobs", {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(filter.pipeline ? { pipeline: filter.pipeline } : {}),
              ...(filter.status ? { status: filter.status } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}
