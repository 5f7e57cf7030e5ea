// The broker's topic helpers (server/broker/topic.ts): the QoS a delivery goes out with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { highestGrantedQoS, plainFilter } from '../../server/broker/topic.ts';

test('plainFilter unwraps shared subscriptions and leaves others', () => {
  assert.equal(plainFilter('$share/g/a/+'), 'a/+');
  assert.equal(plainFilter('$queue/a/#'), 'a/#');
  assert.equal(plainFilter('a/b'), 'a/b');
  assert.equal(plainFilter('$SYS/#'), '$SYS/#');
});

test('highestGrantedQoS is the highest QoS of the matching subscriptions (shared ones by their filter), undefined when none matches', () => {
  assert.equal(highestGrantedQoS({ 'a/#': { qos: 0 }, 'a/+': { qos: 1 }, 'b/#': { qos: 2 } }, 'a/x'), 1);
  assert.equal(highestGrantedQoS({ 'a/#': { qos: 1 }, '$share/g/a/x': { qos: 2 } }, 'a/x'), 2);
  assert.equal(highestGrantedQoS({ 'b/#': { qos: 2 } }, 'a/x'), undefined);
  assert.equal(highestGrantedQoS({ '#': { qos: 2 }, '$SYS/#': { qos: 0 } }, '$SYS/x'), 0, 'a $ topic is matched by an explicit first level only');
  assert.equal(highestGrantedQoS({}, 'a'), undefined);
});
