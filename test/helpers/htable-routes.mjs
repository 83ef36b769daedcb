// A user routing module on the edge's htables, as a Kamailio script with the htable module would
// be: a call from a banned prefix is refused, an operator call removes bans by regex, and
// event_route[htable:expired:ipban] counts every expired ban in the table `events` under
// `<nodeId>:<key>=<value>` (so a test sees which edges fired, and how often). Needs tables `ipban`
// and `events`.
//   INVITE to user `probe`: 403 while some key of ipban starts with "10." ($shtcn), else 480;
//   INVITE to user `unban`: sht_rm_name_re("ipban=>^10\."), answered 200 with the count removed
//   in the reason phrase.
import { withinDialog } from '@sipfleet/proxy';

export default ({ nodeId, htables }) => {
  htables.on('expired', (table, key, value) => {
    if (table === 'ipban') void htables.inc('events', `${nodeId}:${key}=${value}`);
  });
  return {
    async request(ctx) {
      if (withinDialog(ctx)) return;
      if (ctx.request.parsedUri.user === 'unban') {
        const removed = await htables.removeNames('ipban', 're', '^10\\.');
        ctx.reply(200, `Removed ${removed}`);
        return;
      }
      if (htables.countNames('ipban', 'sw', '10.') > 0) ctx.reply(403, 'Banned');
      else ctx.reply(480, 'Not Banned');
    },
  };
};
