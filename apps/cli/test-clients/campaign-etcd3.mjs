// One npm `etcd3` Election candidate (namespace "/locks/", so keys are
// /locks/election/<name>/<lease id in decimal>) that waits to be killed.
// usage: node campaign-etcd3.mjs <etcd endpoint> <election name> <candidate value>
// Prints {"elected": <ms>} when it leads, then proclaims "<value>:leading" and prints
// {"proclaimed": <ms>}; on SIGTERM it resigns and exits.
import { Etcd3 } from 'etcd3';

const [endpoint, name, value] = process.argv.slice(2);
const client = new Etcd3({ hosts: endpoint });
const election = client.namespace('/locks/').election(name, 10);
const campaign = election.campaign(value);
campaign.on('error', (error) => {
  console.error(`campaign error: ${error.message}`);
  process.exit(1);
});
campaign.on('elected', async () => {
  console.log(JSON.stringify({ elected: Date.now() }));
  await campaign.proclaim(`${value}:leading`);
  console.log(JSON.stringify({ proclaimed: Date.now() }));
});
process.on('SIGTERM', async () => {
  await campaign.resign().catch(() => {});
  client.close();
  process.exit(0);
});
setInterval(() => {}, 60_000);
