-- Shared reply helpers: every sipfleet script answers {code, ...}; code >= 0 is success and a
-- negative code is mapped to a typed error by SCRIPT_ERROR_CODES in src/errors.ts.
local ERR_WRONG_TYPE = -1
local ERR_BAD_ARGUMENT = -2
local ERR_NOT_FOUND = -3
local ERR_LIMIT = -4
