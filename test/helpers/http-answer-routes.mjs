// A user routing module on @sipfleet/rtjson's httpRouting that routes on any answer of the routing
// API, as a Kamailio http_async_query reply route does with $http_rs / $http_hdr(name): a 302
// sends the call to the SIP URI in the Location header; an X-Http-Status header with the API's
// status and reason, and X-Http-Body with its body, go on every relayed request.
// $SIPFLEET_ROUTING_URL is the API.
import { httpAnswer, httpRouting } from '@sipfleet/rtjson';

export default () =>
  httpRouting({
    url: process.env.SIPFLEET_ROUTING_URL,
    onAnswer(ctx, outcome) {
      const answer = httpAnswer(ctx);
      if (answer === undefined || outcome.kind !== 'http_error' || answer.status !== 302) return;
      ctx.appendHeader('X-Http-Status', `${answer.status} ${answer.reason}`);
      ctx.appendHeader('X-Http-Body', answer.body);
      ctx.recordRoute();
      ctx.setRequestUri(answer.headers.location);
      ctx.relay();
      return true;
    },
  });
