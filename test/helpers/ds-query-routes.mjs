// A routing module asking the fleet's dispatcher what a Kamailio script asks with ds_count,
// ds_is_active and ds_is_from_list: an OPTIONS to user `ds` is answered 200 with the answers in
// headers (set 1; $TEST_DS_URI is the destination ds_is_active is asked about). Anything else 404.
export default ({ dispatcher }) => ({
  request(ctx) {
    if (!ctx.isMethod('OPTIONS') || ctx.request.parsedUri.user !== 'ds') {
      ctx.reply(404, 'Not Here');
      return;
    }
    const { view } = dispatcher;
    const from = view.isFromList(ctx.source.address, ctx.source.port);
    ctx.reply(200, 'OK', [
      ['X-DS-Count-Active', String(view.count(1, 'a'))],
      ['X-DS-Count-Down', String(view.count(1, 'id'))],
      ['X-DS-Set-Active', String(view.isActive(1))],
      ['X-DS-Uri-Active', String(view.isActive(1, process.env.TEST_DS_URI))],
      ['X-DS-From-List', from === undefined ? 'none' : `${from.setid} ${from.uri}`],
    ]);
  },
});
