import postgres from 'postgres';
addEventListener('unhandledrejection', (e) => {
  const r = (e as PromiseRejectionEvent).reason;
  if (r instanceof Error && r.message === 'Stream was cancelled.') { e.preventDefault(); e.stopImmediatePropagation(); }
});
export default {
  async fetch(req: Request) {
    const sql = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 1, connection: { application_name: 'spike' } });
    const r = await sql`SELECT 1 AS one`;
    await sql.end();
    return new Response(String(r[0].one));
  },
};
