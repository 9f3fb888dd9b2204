/** The sink service: emotions → public JSON events (see README for its configuration), and optionally the live view. */
import { createBus, loadConfig, moduleLogger, runMain, runStageProcess } from '@emostream/shared';
import { sinkConfigSchema, sinkEnvBindings } from './config.js';
import { liveViewFeed } from './live-view/feed.js';
import { LiveView } from './live-view/live-view.js';
import { buildStage } from './stage.js';

runMain(async () => {
  const config = loadConfig(sinkConfigSchema, sinkEnvBindings);
  let closeView: (() => Promise<void>) | undefined;
  await runStageProcess((registry) => buildStage(config, { registry }), config.runtime, {
    onShutdown: () => closeView?.() ?? Promise.resolve(),
  });
  if (config.sink.liveViewPort > 0) {
    // Its own bus client: the view reads frames and events with consumers of its own, never the stage's.
    const view = new LiveView({
      port: config.sink.liveViewPort,
      host: config.sink.liveViewHost,
      ...(config.sink.liveViewToken ? { token: config.sink.liveViewToken } : {}),
    });
    await view.start();
    const viewBus = createBus(config.runtime);
    const stopFeed = await liveViewFeed(viewBus, config.runtime.topicPrefix, view, { relayRtsp: config.sink.liveViewRelayRtsp });
    closeView = async () => {
      await stopFeed();
      await viewBus.close();
      await view.close();
    };
    if (config.runtime.bus === 'memory')
      moduleLogger('live-view').warn('the live view of a sink service on the in-memory bus sees only this process');
  }
});
