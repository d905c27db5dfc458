// What the deployed Worker offers in this version (reported by /health).
export const PGSEAL_WORKER_API_AVAILABLE = false;
