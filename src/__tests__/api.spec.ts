import { CardCheckClient, CardCheckRequestError, requestAPI } from '../api';
import { FakeServer, rejectionOf } from './fakeServer';

describe('requestAPI', () => {
  let server: FakeServer;

  beforeEach(() => {
    server = new FakeServer();
  });

  it('joins the base URL, cardcheck and the endpoint', async () => {
    server.route = () => ({ status: 200, json: { version: '0.1.0' } });
    const body = await requestAPI<{ version: string }>('version', {}, server.settings);
    expect(body.version).toBe('0.1.0');
    expect(server.requests[0].endpoint).toBe('version');
  });

  it('maps a 404 on version to not-enabled', async () => {
    server.route = () => ({ status: 404, json: { message: 'Not Found' } });
    const error = await rejectionOf(requestAPI('version', {}, server.settings));
    expect(error).toBeInstanceOf(CardCheckRequestError);
    expect(error.kind).toBe('not-enabled');
    expect(error.status).toBe(404);
  });

  it('maps an HTML 404 on any route to not-enabled', async () => {
    server.route = () => ({ status: 404, text: '<html>404: Not Found</html>' });
    const error = await rejectionOf(requestAPI('jobs', { method: 'POST' }, server.settings));
    expect(error.kind).toBe('not-enabled');
  });

  it('maps a JSON 404 on a job to not-found', async () => {
    server.route = () => ({ status: 404, json: { message: 'No job abc' } });
    const error = await rejectionOf(requestAPI('jobs/abc', {}, server.settings));
    expect(error.kind).toBe('not-found');
    expect(error.serverMessage).toBe('No job abc');
  });

  it('maps 403 to forbidden', async () => {
    server.route = () => ({ status: 403, json: { message: "'_xsrf' argument missing from POST" } });
    const error = await rejectionOf(requestAPI('jobs', { method: 'POST' }, server.settings));
    expect(error.kind).toBe('forbidden');
    expect(error.serverMessage).toBe("'_xsrf' argument missing from POST");
  });

  it('keeps the server message of a 400', async () => {
    server.route = () => ({ status: 400, json: { message: 'card not found: x.md' } });
    const error = await rejectionOf(requestAPI('jobs', { method: 'POST' }, server.settings));
    expect(error.kind).toBe('bad-request');
    expect(error.status).toBe(400);
    expect(error.serverMessage).toBe('card not found: x.md');
    expect(error.isTransient).toBe(false);
  });

  it('maps 500 to server and 503 to a transient error', async () => {
    server.route = () => ({ status: 500, json: { message: 'boom' } });
    const internal = await rejectionOf(requestAPI('jobs/a', {}, server.settings));
    expect(internal.kind).toBe('server');
    expect(internal.isTransient).toBe(false);

    server.route = () => ({ status: 503, text: 'unavailable' });
    const unavailable = await rejectionOf(requestAPI('jobs/a', {}, server.settings));
    expect(unavailable.kind).toBe('server');
    expect(unavailable.isTransient).toBe(true);
  });

  it('maps a fetch failure to a transient network error', async () => {
    server.route = () => {
      throw new TypeError('Failed to fetch');
    };
    const error = await rejectionOf(requestAPI('version', {}, server.settings));
    expect(error).toBeInstanceOf(CardCheckRequestError);
    expect(error.kind).toBe('network');
    expect(error.isTransient).toBe(true);
  });

  it('rejects a 200 body that is not JSON', async () => {
    server.route = () => ({ status: 200, text: 'not json' });
    const error = await rejectionOf(requestAPI('version', {}, server.settings));
    expect(error.kind).toBe('invalid-response');
  });
});

describe('CardCheckClient', () => {
  it('sends since as a query parameter', async () => {
    const server = new FakeServer();
    server.route = () => ({ status: 200, json: { id: 'j' } });
    const client = new CardCheckClient(server.settings);
    await client.getJob('j', 7);
    await client.getJob('j');
    expect(server.requests[0].endpoint).toBe('jobs/j');
    expect(server.requests[0].query.get('since')).toBe('7');
    expect(server.requests[1].query.has('since')).toBe(false);
  });

  it('posts the job request as JSON', async () => {
    const server = new FakeServer();
    server.route = () => ({ status: 202, json: { id: 'j', state: 'queued', seq: 0 } });
    const client = new CardCheckClient(server.settings);
    const created = await client.startJob({ card: 'a/MODEL_CARD.md', notebooks: ['a/x.ipynb'] });
    expect(created.id).toBe('j');
    expect(server.requests[0].method).toBe('POST');
    expect(server.requests[0].body).toEqual({
      card: 'a/MODEL_CARD.md',
      notebooks: ['a/x.ipynb']
    });
  });

  it('cancels with DELETE', async () => {
    const server = new FakeServer();
    server.route = () => ({ status: 204 });
    const client = new CardCheckClient(server.settings);
    await client.cancelJob('j');
    expect(server.requests[0].method).toBe('DELETE');
    expect(server.requests[0].endpoint).toBe('jobs/j');
  });
});
