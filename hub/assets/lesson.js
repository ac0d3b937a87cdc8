// The classroom panels, chosen by role once the hub says who we are: teachers moderate (people,
// lobby, hands, polls, room settings), students take part (hand, chat, reactions, polls, screen),
// the room display (role device) shows hands and the lobby large. app.js owns the connection.

import { mountBreakouts } from './breakout.js';
import { mountChat } from './chat.js';
import { mountChime } from './chime.js';
import { mountHandButton, mountHandQueue } from './hands.js';
import { mountLobby } from './lobby.js';
import { mountPeople } from './people.js';
import { mountPollCreator } from './pollform.js';
import { mountPollAnswer } from './polls.js';
import { mountReactionBar, mountReactionDisplay } from './reactions.js';
import { mountRoomControls } from './roomctl.js';
import { mountScreenShare } from './screenshare.js';
import { Tabs } from './tabs.js';
import { toast } from './toast.js';

const byId = (id) => document.getElementById(id);

const TABS_BY_ROLE = {
  teacher: ['people', 'chat', 'polls', 'breakouts', 'room'],
  student: ['chat', 'people', 'polls', 'breakouts'],
  viewer: ['people'],
  device: ['people'],
};

export class Lesson {
  /**
   * ctx: { store, send, ui, token, participants() -> {id: info}, publisher() -> Publisher|null,
   * publisherNow() -> Promise<Publisher|null> (made at once if it waits for the room), onUnmuteAccepted() }.
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.self = null;
    this.mounted = null; // the role the panels were built for
    this.parts = {};
    this.unread = 0;
    this.newPoll = false;
    this.lobbySize = 0;
    ctx.store.on('hands', () => this.onHands());
    ctx.store.on('lobby', () => this.onLobby());
    ctx.store.on('spotlight', () => this.onSpotlight());
    ctx.store.on('unmuteRequested', () => this.onUnmuteRequested());
  }

  /** `joined`: build the panels for this role (once; a reconnect keeps them). */
  joined(self) {
    this.self = self;
    if (this.mounted === self.role) {
      this.peopleChanged();
      return;
    }
    this.mounted = self.role;
    this.build(self.role);
  }

  build(role) {
    const { store, send } = this.ctx;
    const panel = {
      store,
      send,
      role,
      selfId: () => this.self?.participantId ?? null,
      self: () => this.self,
      people: () => this.ctx.participants(),
      publisher: () => this.ctx.publisher(),
      publisherNow: () => this.ctx.publisherNow(),
      token: this.ctx.token,
      room: () => this.self?.room,
    };
    document.body.dataset.role = role;
    document.body.classList.toggle('display', role === 'device');
    byId('side').hidden = false;

    const tabNames = TABS_BY_ROLE[role] || ['people'];
    this.tabs = new Tabs(byId('tabs'), (name) => this.onTab(name));
    for (const t of ['people', 'chat', 'polls', 'breakouts', 'room']) this.tabs.show(t, tabNames.includes(t));
    byId('tabs').hidden = tabNames.length < 2;

    const hosts = role === 'teacher' || role === 'device';
    if (hosts) {
      this.parts.lobby = mountLobby(byId('lobby-box'), panel);
      this.parts.hands = mountHandQueue(byId('hands-box'), panel);
      mountChime(byId('hands-box'), panel);
    }
    if (role !== 'device') this.parts.people = mountPeople(byId('people-box'), panel);
    if (role === 'teacher' || role === 'student') {
      panel.onNew = (n) => this.onChat(n);
      this.parts.chat = mountChat(byId('chat-box'), panel);
      byId('react').hidden = false;
      mountReactionBar(byId('react'), byId('reaction-bar'), panel);
      this.parts.screen = mountScreenShare(byId('share'), panel);
    }
    if (role === 'student') {
      byId('hand').hidden = false;
      mountHandButton(byId('hand'), panel);
      mountPollAnswer(byId('polls-box'), { ...panel, onNew: () => this.onPoll() });
    }
    if (role === 'teacher' || role === 'student') {
      // A student moved to a group (or back) sees where they are.
      const show = () => { if (role === 'student' && this.tabs && !document.activeElement?.closest('#panel-chat')) this.tabs.select('breakouts'); };
      this.parts.breakouts = mountBreakouts(byId('breakout-box'), panel, show);
    }
    if (role === 'teacher') {
      mountPollCreator(byId('polls-box'), panel);
      mountRoomControls(byId('room-box'), panel);
    }
    mountReactionDisplay(panel);
    this.tabs.select(tabNames[0]);
    this.onHands();
    this.onSpotlight();
  }

  onTab(name) {
    if (name === 'chat') this.unread = 0;
    if (name === 'polls') this.newPoll = false;
    this.badges();
  }

  onChat(n) {
    if (this.tabs && this.tabs.current !== 'chat') this.unread += n;
    this.badges();
  }

  onPoll() {
    // A new poll matters more than what the student was reading: show it, unless they are typing.
    const typing = document.activeElement && document.activeElement.closest('#panel-chat');
    if (this.tabs && !typing) this.tabs.select('polls');
    else this.newPoll = true;
    toast('The teacher started a poll.');
    this.badges();
  }

  badges() {
    if (!this.tabs) return;
    const v = this.ctx.store.view;
    this.tabs.setBadge('chat', this.unread || '', `${this.unread} unread`);
    this.tabs.setBadge('polls', this.newPoll ? 'new' : '', 'a new poll');
    const waiting = v.lobby ? v.lobby.length : 0;
    const hands = v.hands ? v.hands.length : 0;
    const said = [];
    if (waiting) said.push(`${waiting} waiting to enter`);
    if (hands) said.push(`${hands} ${hands === 1 ? 'hand' : 'hands'} raised`);
    this.tabs.setBadge('people', waiting + hands || '', said.join(', '));
  }

  onHands() {
    const hands = this.ctx.store.view.hands || [];
    this.ctx.ui.setHands(new Set(hands.map((h) => h.participantId)));
    this.badges();
  }

  onLobby() {
    const lobby = this.ctx.store.view.lobby || [];
    if (lobby.length > this.lobbySize && this.mounted === 'teacher' && this.tabs?.current !== 'people') {
      const newest = lobby[lobby.length - 1];
      toast(`${newest.name || 'Someone'} is waiting to be let in (People tab).`);
    }
    this.lobbySize = lobby.length;
    this.badges();
  }

  onSpotlight() {
    const id = this.ctx.store.view.spotlight;
    const me = id != null && id === this.self?.participantId;
    this.ctx.ui.setSpotlight(me ? null : id);
    byId('self-caption').textContent = me ? 'You (in the spotlight)' : 'You';
    if (me) toast('The teacher put you in the spotlight: everyone sees you large.');
  }

  onUnmuteRequested() {
    this.ctx.ui.notice('The teacher asks you to unmute.', 'unmute', {
      label: 'Unmute',
      testid: 'unmute-accept',
      run: () => this.ctx.onUnmuteAccepted(),
    });
  }

  /** The participant list changed (joined, left, muted). */
  peopleChanged() {
    this.parts.people?.render();
    this.parts.chat?.refreshPeople();
  }

  /** A non-fatal refusal from the hub. */
  refused(msg) {
    toast(msg.message || 'The hub refused that.', { kind: 'error' });
    this.ctx.store.emit('refused', msg);
  }

  /** The socket dropped: nothing of the old session is valid. */
  teardown() {
    this.parts.screen?.reset();
    this.ctx.ui.clearNotice('unmute');
  }
}
