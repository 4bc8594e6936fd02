"use client";

import { useEffect, useState, useCallback } from "react";

const API = "http://localhost:3002/api/jobs";

type Job = {
  id: string;
  type: string;
  status: "pending" | "claimed" | "completed" | "failed";
  payload: Record<string, unknown>;
  priority: number;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  lockedBy: string | null;
  createdAt: string;
  claimedAt: string | null;
  completedAt: string | null;
};

type Stats = {
  pending: number;
  claimed: number;
  completed: number;
  failed: number;
  total: number;
};

function timeAgo(dateStr: string): string {
  const seconds = Math.floor(
    (Date.now() - new Date(dateStr).getTime()) / 1000
  );
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  return `${Math.floor(seconds / 3600)}h ago`;
}

export default function QueueDashboard() {
  const [stats, setStats] = useState<Stats | null>(null);
  const [active, setActive] = useState<Job[]>([]);
  const [pending, setPending] = useState<Job[]>([]);
  const [completed, setCompleted] = useState<Job[]>([]);
  const [failed, setFailed] = useState<Job[]>([]);
  const [error, setError] = useState<string | null>(null);

  const fetchAll = useCallback(async () => {
    try {
      const [statsRes, activeRes, pendingRes, completedRes, failedRes] =
        await Promise.all([
          fetch(`${API}/stats`),
          fetch(`${API}?status=claimed`),
          fetch(`${API}?status=pending`),
          fetch(`${API}?status=completed&limit=20`),
          fetch(`${API}?status=failed&limit=20`),
        ]);

      setStats((await statsRes.json()).stats);
      setActive((await activeRes.json()).jobs);
      setPending((await pendingRes.json()).jobs);
      setCompleted((await completedRes.json()).jobs);
      setFailed((await failedRes.json()).jobs);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : "Failed to fetch");
    }
  }, []);

  // Poll every 2 seconds
  useEffect(() => {
    fetchAll();
    const interval = setInterval(fetchAll, 2000);
    return () => clearInterval(interval);
  }, [fetchAll]);

  async function retryJob(id: string) {
    await fetch(`${API}/${id}/retry`, { method: "POST" });
    fetchAll();
  }

  async function deleteJob(id: string) {
    await fetch(`${API}/${id}`, { method: "DELETE" });
    fetchAll();
  }

  async function purgeCompleted() {
    await fetch(API, { method: "DELETE" });
    fetchAll();
  }

  if (error) {
    return (
      <div className="p-8 text-center">
        <p className="text-red-500 text-lg">Cannot reach API: {error}</p>
        <p className="text-gray-500 mt-2">
          Make sure the server is running at {API}
        </p>
      </div>
    );
  }

  return (
    <div className="min-h-screen bg-gray-950 text-gray-100 p-8">
      <h1 className="text-2xl font-bold mb-6">Queue Dashboard</h1>

      {/* Stats Bar */}
      {stats && (
        <div className="grid grid-cols-5 gap-4 mb-8">
          {(
            [
              ["Pending", stats.pending, "bg-yellow-500/20 text-yellow-400"],
              ["Active", stats.claimed, "bg-blue-500/20 text-blue-400"],
              ["Completed", stats.completed, "bg-green-500/20 text-green-400"],
              ["Failed", stats.failed, "bg-red-500/20 text-red-400"],
              ["Total", stats.total, "bg-gray-500/20 text-gray-400"],
            ] as const
          ).map(([label, count, cls]) => (
            <div key={label} className={`rounded-lg p-4 ${cls}`}>
              <div className="text-sm opacity-80">{label}</div>
              <div className="text-3xl font-mono font-bold">{count}</div>
            </div>
          ))}
        </div>
      )}

      {/* Currently Processing */}
      <Section title="Currently Processing" badge={active.length}>
        {active.length === 0 ? (
          <EmptyState>No jobs being processed right now.</EmptyState>
        ) : (
          active.map((job) => (
            <JobCard key={job.id} job={job}>
              <span className="text-xs text-blue-400 animate-pulse">
                Worker: {job.lockedBy}
              </span>
              {job.claimedAt && (
                <span className="text-xs text-gray-500">
                  Started {timeAgo(job.claimedAt)}
                </span>
              )}
            </JobCard>
          ))
        )}
      </Section>

      {/* Up Next */}
      <Section title="Up Next (Pending)" badge={pending.length}>
        {pending.length === 0 ? (
          <EmptyState>Queue is empty.</EmptyState>
        ) : (
          pending.map((job, i) => (
            <JobCard key={job.id} job={job}>
              <span className="text-xs text-yellow-400">
                Position #{i + 1}
              </span>
              <span className="text-xs text-gray-500">
                Created {timeAgo(job.createdAt)}
              </span>
              <button
                onClick={() => deleteJob(job.id)}
                className="text-xs text-red-400 hover:text-red-300 ml-auto"
              >
                Remove
              </button>
            </JobCard>
          ))
        )}
      </Section>

      {/* Completed */}
      <Section
        title="Completed"
        badge={completed.length}
        action={
          completed.length > 0 ? (
            <button
              onClick={purgeCompleted}
              className="text-xs text-gray-400 hover:text-gray-200"
            >
              Purge all
            </button>
          ) : undefined
        }
      >
        {completed.length === 0 ? (
          <EmptyState>No completed jobs yet.</EmptyState>
        ) : (
          completed.map((job) => (
            <JobCard key={job.id} job={job}>
              <span className="text-xs text-green-400">
                Took {job.attempts} attempt{job.attempts !== 1 ? "s" : ""}
              </span>
              {job.completedAt && (
                <span className="text-xs text-gray-500">
                  Finished {timeAgo(job.completedAt)}
                </span>
              )}
            </JobCard>
          ))
        )}
      </Section>

      {/* Failed */}
      <Section title="Failed" badge={failed.length}>
        {failed.length === 0 ? (
          <EmptyState>No failed jobs.</EmptyState>
        ) : (
          failed.map((job) => (
            <JobCard key={job.id} job={job}>
              <span className="text-xs text-red-400 truncate max-w-xs">
                {job.lastError}
              </span>
              <button
                onClick={() => retryJob(job.id)}
                className="text-xs text-yellow-400 hover:text-yellow-300 ml-auto"
              >
                Retry
              </button>
            </JobCard>
          ))
        )}
      </Section>
    </div>
  );
}

function Section({
  title,
  badge,
  action,
  children,
}: {
  title: string;
  badge: number;
  action?: React.ReactNode;
  children: React.ReactNode;
}) {
  return (
    <div className="mb-8">
      <div className="flex items-center gap-3 mb-3">
        <h2 className="text-lg font-semibold">{title}</h2>
        <span className="bg-gray-800 text-gray-400 text-xs px-2 py-0.5 rounded-full font-mono">
          {badge}
        </span>
        {action}
      </div>
      <div className="space-y-2">{children}</div>
    </div>
  );
}

function JobCard({
  job,
  children,
}: {
  job: Job;
  children: React.ReactNode;
}) {
  const name =
    (job.payload as { name?: string })?.name ?? job.type;

  return (
    <div className="bg-gray-900 border border-gray-800 rounded-lg px-4 py-3 flex items-center gap-4">
      <div className="flex-1 min-w-0">
        <div className="font-medium truncate">{name}</div>
        <div className="text-xs text-gray-500 font-mono truncate">
          {job.id}
        </div>
      </div>
      <div className="flex items-center gap-3 shrink-0">{children}</div>
    </div>
  );
}

function EmptyState({ children }: { children: React.ReactNode }) {
  return (
    <div className="text-gray-600 text-sm py-4 text-center border border-dashed border-gray-800 rounded-lg">
      {children}
    </div>
  );
}
