-- Kamailio htable expiry rules for an item that was just written (see README "Expiry").
--   key           the item
-- explicit        seconds given with the write (sets/seti with expire, $shtex); 0 = none
-- autoexpire      the table's lifetime in seconds; 0 = items never expire
-- updateexpire    '1': every update restarts the lifetime; '0': only a new item gets one
-- existed         whether the item was there before this write
local function ht_apply_expire(key, explicit, autoexpire, updateexpire, existed)
  if explicit > 0 then
    redis.call('EXPIRE', key, explicit)
  elseif updateexpire == '1' or not existed then
    if autoexpire > 0 then
      redis.call('EXPIRE', key, autoexpire)
    else
      redis.call('PERSIST', key)
    end
  end
  return redis.call('PTTL', key)
end
