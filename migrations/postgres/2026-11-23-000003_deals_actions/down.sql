DROP TABLE actions;
DROP TABLE deal_items;
DROP TABLE deals;
