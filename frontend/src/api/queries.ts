/** TanStack Query hooks: the cache keys and fetchers of everything the UI reads. */
import { replaceEqualDeep, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { newerJob } from "../lib/jobEvents";
import { bearer } from "./auth";
import { api, call } from "./client";
import { isTerminal, type ApiKey, type CreatedKey, type Job, type JobStatus, type KeyRequest, type Me } from "./types";

export const keys = {
  me: (epoch: number) => ["me", epoch] as const,
  apiKeys: ["admin", "keys"] as const,
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
    // Every write to this cache entry (a refetch, the cancel answer, an event) passes here: never backwards.
    structuralSharing: (cached: unknown, incoming: unknown) =>
      replaceEqualDeep(cached, newerJob(cached as Job | undefined, incoming as Job)),
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

/** Who the signed-in key is (with auth off: the default tenant, `auth: "off"`). One per sign-in epoch. */
export function useMe(epoch: number, enabled: boolean) {
  return useQuery({
    queryKey: keys.me(epoch),
    queryFn: (): Promise<Me> => call(api.GET("/v1/me")),
    enabled,
    staleTime: Infinity,
    retry: false,
  });
}

/** Ask the gateway who `key` is, without signing in with it yet. */
export function checkKey(key: string): Promise<Me> {
  return call(api.GET("/v1/me", { headers: { Authorization: bearer(key) } }));
}

export function useApiKeys(enabled: boolean) {
  return useQuery({
    queryKey: keys.apiKeys,
    queryFn: async (): Promise<ApiKey[]> => (await call(api.GET("/v1/admin/keys"))).items,
    enabled,
  });
}

export function createApiKey(body: KeyRequest): Promise<CreatedKey> {
  return call(api.POST("/v1/admin/keys", { body }));
}

export function revokeApiKey(id: string): Promise<ApiKey> {
  return call(api.DELETE("/v1/admin/keys/{key_id}", { params: { path: { key_id: id } } }));
}
